package wsman

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"

	"testing"
	"time"
)

// seedResponses are server-written responses for every call.
func seedResponses(t testing.TB) [][]byte {
	fw := newFakeFirmware()
	f := fw.Features()
	return [][]byte{
		redirectionInstance(f).render("0", 1),
		optInInstance(f).render("0", 1),
		kvmSAPInstance(f).render("0", 1),
		kvmSettingsInstance(actionGet, f, fw.Displays()).render("0", 1),
		methodReply(actionStartOptIn, uriOptInService, "StartOptIn", 0).render("0", 1),
		methodReply(actionRequestPowerStateChange, uriPowerManagementService, "RequestPowerStateChange", 0).render("0", 1),
		enumerateReply(uriScreenSettingData, "01000000-0000-0000-0000-000000000000").render("0", 1),
		pullReply(uriServiceAvailableToElement, uriAssociatedPowerService, powerItem(PowerOn)).render("0", 1),
		pullReply(uriScreenSettingData, uriScreenSettingData, screenItem(fw.Displays())).render("0", 1),
		faultInvalidRepresentation(uriOptInService).render("0", 1),
	}
}

// decodeAll runs every response decoder on data.
func decodeAll(status int, data []byte) {
	_, _ = decodeResponse[enumerateBody](status, data, "0")
	_, _ = decodeResponse[pullPowerBody](status, data, "0")
	_, _ = decodeResponse[powerChangeBody](status, data, "0")
	_, _ = decodeResponse[optInMethodBody](status, data, "0")
	_, _ = decodeResponse[redirectionBody](status, data, "0")
	_, _ = decodeResponse[optInServiceBody](status, data, "0")
	_, _ = decodeResponse[kvmSAPBody](status, data, "0")
	_, _ = decodeResponse[pullScreenBody](status, data, "0")
	_, _ = decodeResponse[kvmSettingsBody](status, data, "0")
}

// FuzzResponse feeds arbitrary bytes to the client's HTTP response reader
// and every envelope decoder, and challenge headers to the digest parser.
func FuzzResponse(f *testing.F) {
	srv := newTestServer(f, newFakeFirmware())
	for _, r := range seedResponses(f) {
		var b bytes.Buffer
		_ = srv.writeChunked(&b, 200, r)
		f.Add(b.Bytes())
	}
	f.Add([]byte("HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Digest realm=\"Digest:34BF\", nonce=\"bQali2IA\",stale=\"false\",qop=\"auth\"\r\nContent-Length: 13\r\n\r\n<html></html>"))
	f.Fuzz(func(t *testing.T, data []byte) {
		br := bufio.NewReader(&budgetReader{r: bytes.NewReader(data), n: maxResponseBytes})
		resp, _, err := readResponse(br)
		if err != nil {
			decodeAll(200, data)
			return
		}
		decodeAll(resp.status, resp.body)
		_, _ = parseChallenge(resp.header.Get("WWW-Authenticate"))
	})
}

// FuzzDigestHeader parses arbitrary Authorization/WWW-Authenticate values.
func FuzzDigestHeader(f *testing.F) {
	f.Add(`Digest realm="Digest:34BF4B5A0561F95248F58509A406E046", nonce="bQali2IAAAAAAAAAn0xaWCOcxNsRcEHX",stale="false",qop="auth"`)
	f.Add(`Digest username="admin",realm="r",nonce="n",uri="/wsman",qop="auth",response="` + wantDigest + `",nc="00000001",cnonce="x"`)
	f.Add(`Digest username=admin, nc=00000001, qop=auth, x="a\"b"`)
	f.Fuzz(func(t *testing.T, h string) {
		p, err := parseDigestParams(h)
		if err == nil && len(p) > maxAuthParams {
			t.Fatalf("%d parameters accepted", len(p))
		}
		_, _ = parseChallenge(h)
	})
}

// FuzzServerDispatch runs arbitrary request bodies through the server's
// parser and dispatcher; whatever it answers must be an envelope the client
// can read.
func FuzzServerDispatch(f *testing.F) {
	for _, r := range [][]byte{
		buildRequest(actionGet, uriRedirectionService, 1, bodyEmpty),
		buildRequest(actionEnumerate, uriScreenSettingData, 1, bodyEnumerate),
		buildRequest(actionPull, uriScreenSettingData, 1, pullBody("01000000-0000-0000-0000-000000000000")),
		buildRequest(actionRequestPowerStateChange, uriPowerManagementService, 1, powerStateChangeBody(8)),
		buildRequest(actionSendOptInCode, uriOptInService, 1, methodBody("SendOptInCode", uriOptInService, "<h:OptInCode>1</h:OptInCode>")),
		buildRequest(actionPut, uriKVMRedirectionSettingData, 1, putBody("IPS_KVMRedirectionSettingData", uriKVMRedirectionSettingData, []field{{"DefaultScreen", "1"}})),
	} {
		f.Add(r)
	}
	srv := newTestServer(f, newFakeFirmware())
	f.Fuzz(func(t *testing.T, body []byte) {
		env, err := parseRequest(body)
		if err != nil {
			return
		}
		out := srv.dispatch(env).render(messageID(env), 1)
		var e respEnvelope[faultBody]
		if err := xmlDecode(out, &e); err != nil {
			t.Fatalf("server wrote an unreadable envelope: %v\n%s", err, out)
		}
	})
}

// fuzzConn is a connection whose peer sent data and reads nothing back.
type fuzzConn struct {
	io.Reader
}

func (fuzzConn) Write(p []byte) (int, error)      { return len(p), nil }
func (fuzzConn) Close() error                     { return nil }
func (fuzzConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (fuzzConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (fuzzConn) SetDeadline(time.Time) error      { return nil }
func (fuzzConn) SetReadDeadline(time.Time) error  { return nil }
func (fuzzConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzServe feeds arbitrary bytes to Serve as a connection's input.
func FuzzServe(f *testing.F) {
	srv := newTestServer(f, newFakeFirmware())
	body := string(buildRequest(actionGet, uriRedirectionService, 1, bodyEmpty))
	f.Add([]byte(authed(srv, body, 1)))
	f.Add([]byte("POST /wsman HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = srv.Serve(context.Background(), fuzzConn{Reader: bytes.NewReader(data)})
	})
}
