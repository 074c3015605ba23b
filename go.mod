module github.com/alexlens/alexlens

go 1.26
