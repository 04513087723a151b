package ebpfreceiver

import "errors"

// inspectGoBinary is replaced by the goexe-backed inspection once merged.
func inspectGoBinary(path string) (*binaryInfo, error) {
	return nil, &attachError{reason: reasonInspectFailed, err: errors.New("inspect " + path + ": binary inspection not available")}
}
