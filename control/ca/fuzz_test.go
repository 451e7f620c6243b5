package ca

import (
	"testing"
)

// FuzzParseCSR: request bodies come from the network.
func FuzzParseCSR(f *testing.F) {
	f.Add([]byte("-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		csr, err := ParseCSR(b)
		if err == nil && csr.PublicKey == nil {
			t.Fatal("accepted a CSR without a key")
		}
	})
}

// FuzzHashEnrollmentToken: only well-formed tokens get a hash.
func FuzzHashEnrollmentToken(f *testing.F) {
	tok, _ := NewEnrollmentToken()
	f.Add(tok)
	f.Add("")
	f.Add(TokenPrefix)
	f.Fuzz(func(t *testing.T, s string) {
		h, err := HashEnrollmentToken(s)
		if err == nil && (len(h) != 32 || len(s) != tokenLen) {
			t.Fatalf("accepted %q", s)
		}
	})
}
