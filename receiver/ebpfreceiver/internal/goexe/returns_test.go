package goexe

import (
	"reflect"
	"testing"
)

func TestReturnOffsets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		code []byte
		want []int
	}{
		{"single ret", []byte{0xc3}, []int{0}},
		{"endbr64 then ret", []byte{0xf3, 0x0f, 0x1e, 0xfa, 0xc3}, []int{4}},
		{
			// mov eax, 0xc3; ret: the immediate byte 0xc3 is not an instruction.
			"0xc3 inside an immediate", []byte{0xb8, 0xc3, 0x00, 0x00, 0x00, 0xc3}, []int{5},
		},
		{
			// Go epilogue: add rsp, 0x18; pop rbp; ret; then int3 padding.
			"epilogue and padding", []byte{0x48, 0x83, 0xc4, 0x18, 0x5d, 0xc3, 0xcc, 0xcc}, []int{5},
		},
		{
			// two exits: test rax,rax; jne +1; ret; ret
			"two rets", []byte{0x48, 0x85, 0xc0, 0x75, 0x01, 0xc3, 0xc3}, []int{5, 6},
		},
		{"ret imm16", []byte{0xc2, 0x08, 0x00}, []int{0}},
		{
			// vpcmpeqb ymm1, ymm0, [rdi] (VEX, which x86asm cannot decode) hides no RET
			"vex", []byte{0xc5, 0xfd, 0x74, 0x0f, 0xc3}, []int{4},
		},
		{
			// vpternlogd zmm0, zmm1, [rax+0xc3], 0xc3 (EVEX, 0F3A map: imm8)
			"evex with immediate", []byte{0x62, 0xf3, 0x75, 0x48, 0x25, 0x40, 0xc3, 0xc3, 0xc3}, []int{8},
		},
		{"vzeroupper", []byte{0xc5, 0xf8, 0x77, 0xc3}, []int{3}},
		{
			// adcx r8, rbx (66 REX.WR 0F 38 F6 /r: unknown to x86asm), ret
			"adcx", []byte{0x66, 0x4c, 0x0f, 0x38, 0xf6, 0xc3, 0xc3}, []int{6},
		},
		{"undecodable byte skipped", []byte{0x06, 0xc3}, []int{1}}, // push es: invalid in 64-bit mode
		{"truncated instruction", []byte{0x48, 0x8b}, nil},
		{"empty", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := returnOffsets(tt.code); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("returnOffsets(% x) = %v, want %v", tt.code, got, tt.want)
			}
		})
	}
}

func TestParseGoVersion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in           string
		minor, patch int
		ok           bool
	}{
		{"go1.22.12", 22, 12, true},
		{"go1.21.0", 21, 0, true},
		{"go1.23rc1", 23, 0, true},
		{"go1.24.3 X:boringcrypto", 24, 3, true},
		{"go1.19", 19, 0, true},
		{"devel go1.25-abcdef", 0, 0, false},
		{"", 0, 0, false},
	}
	for _, tt := range tests {
		minor, patch, ok := parseGoVersion(tt.in)
		if minor != tt.minor || patch != tt.patch || ok != tt.ok {
			t.Errorf("parseGoVersion(%q) = %d, %d, %v; want %d, %d, %v", tt.in, minor, patch, ok, tt.minor, tt.patch, tt.ok)
		}
		if got := (&Executable{GoVersion: tt.in}).GoMinor(); got != tt.minor {
			t.Errorf("GoMinor(%q) = %d, want %d", tt.in, got, tt.minor)
		}
	}
}
