//go:build !unix && !windows

package service

import "errors"

// freeBytes is unknown here: the free-space check is skipped and the write probe decides.
func freeBytes(string) (uint64, error) { return 0, errors.New("free space unknown on this system") }
