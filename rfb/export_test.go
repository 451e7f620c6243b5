package rfb

// VNCAuthResponse exposes the DES step to the tests.
var VNCAuthResponse = vncAuthResponse
