//go:build !linux

package server

import "os"

// fileID is what a cached hash of a file is checked against. Off Linux it is the size and
// modification time (os.SameFile covers device and inode).
type fileID struct {
	size, mtime int64
}

func identity(fi os.FileInfo) fileID {
	return fileID{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
}
