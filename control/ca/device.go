package ca

import (
	"fmt"
	"net/url"
)

// DeviceURIPrefix starts the URI SAN every device certificate carries.
const DeviceURIPrefix = "urn:kvmrelay:device:"

const maxDeviceIDLen = 128

// CheckDeviceID accepts 1–128 characters of [A-Za-z0-9._-]: the id goes into a CN and a URN,
// and later into logs and HTML, so nothing that needs escaping is allowed in.
func CheckDeviceID(id string) error {
	if id == "" || len(id) > maxDeviceIDLen {
		return fmt.Errorf("%w: length %d", ErrBadDeviceID, len(id))
	}
	for _, r := range id {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
		if !ok {
			return fmt.Errorf("%w: character %q", ErrBadDeviceID, r)
		}
	}
	return nil
}

// DeviceURI is the URI SAN for a device id.
func DeviceURI(id string) *url.URL {
	return &url.URL{Scheme: "urn", Opaque: "kvmrelay:device:" + id}
}
