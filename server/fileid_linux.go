package server

import (
	"os"
	"syscall"
)

// fileID is what a cached hash of a file is checked against: device, inode, size, and the
// modification and change times in nanoseconds. The change time (ctime) moves with every
// write and cannot be set back, so a file rewritten in place with its size and mtime
// restored is still seen as changed.
type fileID struct {
	dev, ino     uint64
	size         int64
	mtime, ctime int64
}

func identity(fi os.FileInfo) fileID {
	id := fileID{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		id.dev, id.ino = uint64(st.Dev), st.Ino
		id.ctime = st.Ctim.Sec*1e9 + st.Ctim.Nsec
	}
	return id
}
