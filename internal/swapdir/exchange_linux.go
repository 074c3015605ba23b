package swapdir

import "golang.org/x/sys/unix"

func exchange(a, b string) error {
	err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE)
	if err == unix.ENOSYS || err == unix.EINVAL {
		return ErrUnsupported // an old kernel, or a file system without the exchange
	}
	return err
}
