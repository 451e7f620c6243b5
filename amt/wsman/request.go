package wsman

import (
	"strconv"
	"strings"
)

// The request envelope exactly as Intel's wsman-messages writes it (MPS
// sends these), so a device sees from our fake MPS what it sees from MPS.
const (
	requestPrefix = `<?xml version="1.0" encoding="utf-8"?><Envelope xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns="http://www.w3.org/2003/05/soap-envelope">`
	requestSuffix = `</Envelope>`

	bodyEmpty     = `<Body></Body>`
	bodyEnumerate = `<Body><Enumerate xmlns="http://schemas.xmlsoap.org/ws/2004/09/enumeration" /></Body>`
)

// buildRequest assembles one envelope: header for action on resourceURI with
// messageID, then body (a complete <Body>…</Body>).
func buildRequest(action, resourceURI string, messageID uint64, body string) []byte {
	var b strings.Builder
	b.Grow(len(requestPrefix) + 512 + len(body))
	b.WriteString(requestPrefix)
	b.WriteString(`<Header><a:Action>`)
	b.WriteString(action)
	b.WriteString(`</a:Action><a:To>/wsman</a:To><w:ResourceURI>`)
	b.WriteString(resourceURI)
	b.WriteString(`</w:ResourceURI><a:MessageID>`)
	b.WriteString(strconv.FormatUint(messageID, 10))
	b.WriteString(`</a:MessageID><a:ReplyTo><a:Address>`)
	b.WriteString(anonymous)
	b.WriteString(`</a:Address></a:ReplyTo><w:OperationTimeout>PT60S</w:OperationTimeout></Header>`)
	b.WriteString(body)
	b.WriteString(requestSuffix)
	return []byte(b.String())
}

// pullBody asks for the items of an enumeration; the limits are MPS's.
func pullBody(enumContext string) string {
	return `<Body><Pull xmlns="http://schemas.xmlsoap.org/ws/2004/09/enumeration"><EnumerationContext>` +
		escapeText(enumContext) +
		`</EnumerationContext><MaxElements>999</MaxElements><MaxCharacters>99999</MaxCharacters></Pull></Body>`
}

// powerStateChangeBody is MPS's RequestPowerStateChange input, ManagedElement
// reference included (its Address is the addressing namespace, as MPS sends).
func powerStateChangeBody(state int) string {
	return `<Body><h:RequestPowerStateChange_INPUT xmlns:h="` + uriPowerManagementService + `"><h:PowerState>` +
		strconv.Itoa(state) +
		`</h:PowerState><h:ManagedElement><Address xmlns="http://schemas.xmlsoap.org/ws/2004/08/addressing">http://schemas.xmlsoap.org/ws/2004/08/addressing</Address><ReferenceParameters xmlns="http://schemas.xmlsoap.org/ws/2004/08/addressing"><ResourceURI xmlns="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd">` +
		uriComputerSystem +
		`</ResourceURI><SelectorSet xmlns="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><Selector Name="CreationClassName">CIM_ComputerSystem</Selector><Selector Name="Name">ManagedSystem</Selector></SelectorSet></ReferenceParameters></h:ManagedElement></h:RequestPowerStateChange_INPUT></Body>`
}

// methodBody is a method input in the class namespace with the given
// already-escaped child elements (each "<h:Name>value</h:Name>").
func methodBody(method, classURI, children string) string {
	return `<Body><h:` + method + `_INPUT xmlns:h="` + classURI + `">` + children + `</h:` + method + `_INPUT></Body>`
}

// field is one property of an instance, in the order the device sent it.
type field struct {
	name  string
	value string
}

// putBody writes an instance for a Put as MPS does: every property under the
// h: prefix bound to the class URI.
func putBody(class, classURI string, fields []field) string {
	var b strings.Builder
	b.WriteString(`<Body><h:` + class + ` xmlns:h="` + classURI + `">`)
	for _, f := range fields {
		b.WriteString(`<h:` + f.name + `>`)
		b.WriteString(escapeText(f.value))
		b.WriteString(`</h:` + f.name + `>`)
	}
	b.WriteString(`</h:` + class + `></Body>`)
	return b.String()
}

// escapeText escapes character data for an element or attribute value.
func escapeText(s string) string {
	if !strings.ContainsAny(s, `<>&"'`) && isPrintable(s) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		case '"':
			b.WriteString("&quot;")
		case '\'':
			b.WriteString("&apos;")
		default:
			if r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0xFFFD {
				b.WriteString("\uFFFD")
				continue
			}
			b.WriteRune(r)
		}
	}
	return b.String()
}

func isPrintable(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 {
			return false
		}
	}
	return true
}
