package goexe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"
)

var binaryLE = binary.LittleEndian

// fileID identifies one version of a file: the same path rebuilt in place
// gets a new mtime (and usually a new inode), a replaced one a new inode.
type fileID struct {
	dev, ino uint64
	size     int64
	mtime    time.Time
}

func identify(f *os.File) (fileID, error) {
	fi, err := f.Stat()
	if err != nil {
		return fileID{}, err
	}
	return idFromInfo(fi), nil
}

func idFromInfo(fi os.FileInfo) fileID {
	id := fileID{size: fi.Size(), mtime: fi.ModTime()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		id.dev, id.ino = uint64(st.Dev), st.Ino //nolint:unconvert // Dev is int-typed on some platforms
	}
	return id
}

// errFileChanged is returned when the path no longer holds the file that was
// inspected, so code or data read from it would not match the pclntab.
var errFileChanged = errors.New("file changed since it was inspected")

// open returns a reader of the inspected file and a function that releases it.
func (e *Executable) open() (io.ReaderAt, func(), error) {
	if e.image != nil {
		return e.image, func() {}, nil
	}
	f, err := e.openSame()
	if err != nil {
		return nil, nil, err
	}
	return f, func() { f.Close() }, nil
}

// openSame reopens the inspected file: e.Path, else another path the Cache
// has seen for the same file (so that /proc/<pid>/exe of an exited process
// does not strand an inspection shared with live ones), checking that the
// file is still the one inspected.
func (e *Executable) openSame() (*os.File, error) {
	var firstErr error
	for _, path := range e.knownPaths() {
		f, err := os.Open(path)
		if err == nil {
			var id fileID
			if id, err = identify(f); err == nil && id != e.id {
				err = errFileChanged
			}
			if err == nil {
				return f, nil
			}
			f.Close()
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, firstErr
}

// knownPaths returns e.Path then the other paths seen for this file, most
// recent first.
func (e *Executable) knownPaths() []string {
	e.pathsMu.Lock()
	defer e.pathsMu.Unlock()
	paths := make([]string, 0, 1+len(e.otherPaths))
	paths = append(paths, e.Path)
	for i := len(e.otherPaths) - 1; i >= 0; i-- {
		paths = append(paths, e.otherPaths[i])
	}
	return paths
}

// maxOtherPaths bounds the alternative paths remembered per executable.
const maxOtherPaths = 8

// addPath records another path at which the same file was seen.
func (e *Executable) addPath(path string) {
	e.pathsMu.Lock()
	defer e.pathsMu.Unlock()
	if path == e.Path {
		return
	}
	for i, p := range e.otherPaths {
		if p == path {
			e.otherPaths = append(e.otherPaths[:i], e.otherPaths[i+1:]...)
			break
		}
	}
	e.otherPaths = append(e.otherPaths, path)
	if len(e.otherPaths) > maxOtherPaths {
		e.otherPaths = e.otherPaths[len(e.otherPaths)-maxOtherPaths:]
	}
}

// VaddrToFileOffset maps an unrelocated virtual address to its offset in the
// file through the PT_LOAD segment that holds it: offset = vaddr - p_vaddr +
// p_offset. Addresses in a segment's zero-filled tail (.bss) have no file
// offset.
func (e *Executable) VaddrToFileOffset(vaddr uint64) (uint64, error) {
	for _, p := range e.loads {
		if vaddr >= p.Vaddr && vaddr-p.Vaddr < p.Filesz {
			return vaddr - p.Vaddr + p.Off, nil
		}
	}
	return 0, fmt.Errorf("%s: address %#x is not in the file image of any PT_LOAD segment", e.Path, vaddr)
}

// ReadAt fills p with the file's initialised bytes at virtual address vaddr
// (for example the runtime.buildVersion string). The whole range must lie in
// one segment's file image.
func (e *Executable) ReadAt(p []byte, vaddr uint64) error {
	r, release, err := e.open()
	if err != nil {
		return fmt.Errorf("%s: read %d bytes at %#x: %w", e.Path, len(p), vaddr, err)
	}
	defer release()
	if err := e.readAtFrom(r, p, vaddr); err != nil {
		return fmt.Errorf("%s: %w", e.Path, err)
	}
	return nil
}

func (e *Executable) readAtFrom(r io.ReaderAt, p []byte, vaddr uint64) error {
	off, err := e.fileRange(vaddr, uint64(len(p)))
	if err != nil {
		return err
	}
	if _, err := r.ReadAt(p, int64(off)); err != nil { //nolint:gosec // off < segment offset + filesz, both from the file
		return fmt.Errorf("read %d bytes at %#x: %w", len(p), vaddr, err)
	}
	return nil
}

// fileRange returns the file offset of [vaddr, vaddr+n) when the whole range
// lies in one segment's file image.
func (e *Executable) fileRange(vaddr, n uint64) (uint64, error) {
	for _, p := range e.loads {
		if vaddr >= p.Vaddr && vaddr-p.Vaddr < p.Filesz {
			if n > p.Filesz-(vaddr-p.Vaddr) {
				return 0, fmt.Errorf("range %#x+%d runs past the end of its segment's file image", vaddr, n)
			}
			off := vaddr - p.Vaddr + p.Off
			if off > 1<<62 {
				return 0, fmt.Errorf("file offset %#x of %#x out of range", off, vaddr)
			}
			return off, nil
		}
	}
	return 0, fmt.Errorf("address %#x is not in the file image of any PT_LOAD segment", vaddr)
}
