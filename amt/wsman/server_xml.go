package wsman

import (
	"fmt"
	"strconv"
	"strings"
)

// The response envelope as AMT writes it: prefixes a–f fixed, g (and h)
// bound to what the body needs, xsi last.
const responseNamespaces = `xmlns:a="http://www.w3.org/2003/05/soap-envelope" xmlns:b="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:c="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:d="http://schemas.xmlsoap.org/ws/2005/02/trust" xmlns:e="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd" xmlns:f="http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd"`

// reply is one response envelope before rendering.
type reply struct {
	status      int    // HTTP status: 200, or 400 for a fault
	action      string // response Action
	resourceURI string // "" to leave it out (faults on unknown resources)
	g, h        string // namespaces bound to g: and h:
	body        string // inside <a:Body>, already escaped
}

// render writes the envelope; relatesTo is the request's MessageID and
// messageID the response's own number.
func (r reply) render(relatesTo string, messageID uint64) []byte {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><a:Envelope `)
	b.WriteString(responseNamespaces)
	if r.g != "" {
		b.WriteString(` xmlns:g="` + r.g + `"`)
	}
	if r.h != "" {
		b.WriteString(` xmlns:h="` + r.h + `"`)
	}
	b.WriteString(` xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><a:Header><b:To>` + anonymous + `</b:To><b:RelatesTo>`)
	b.WriteString(escapeText(relatesTo))
	b.WriteString(`</b:RelatesTo><b:Action a:mustUnderstand="true">` + r.action + `</b:Action><b:MessageID>`)
	fmt.Fprintf(&b, "uuid:00000000-8086-8086-8086-%012X", messageID)
	b.WriteString(`</b:MessageID>`)
	if r.resourceURI != "" {
		b.WriteString(`<c:ResourceURI>` + r.resourceURI + `</c:ResourceURI>`)
	}
	b.WriteString(`</a:Header><a:Body>` + r.body + `</a:Body></a:Envelope>`)
	return []byte(b.String())
}

// prop is one property: name and escaped text.
type prop struct{ name, value string }

func str(name, v string) prop     { return prop{name, escapeText(v)} }
func num(name string, v int) prop { return prop{name, strconv.Itoa(v)} }
func boolean(name string, v bool) prop {
	return prop{name, strconv.FormatBool(v)}
}

// instance writes <p:class>…</p:class> with each property under prefix p.
func instance(p, class string, props ...prop) string {
	var b strings.Builder
	b.WriteString(`<` + p + `:` + class + `>`)
	for _, pr := range props {
		b.WriteString(`<` + p + `:` + pr.name + `>` + pr.value + `</` + p + `:` + pr.name + `>`)
	}
	b.WriteString(`</` + p + `:` + class + `>`)
	return b.String()
}

// getReply answers a Get with one instance (g bound to the class).
func getReply(classURI string, props ...prop) reply {
	return reply{
		status: 200, action: actionGet + "Response", resourceURI: classURI, g: classURI,
		body: instance("g", className(classURI), props...),
	}
}

// methodReply answers a method with its _OUTPUT ReturnValue.
func methodReply(action, classURI, method string, rv int) reply {
	return reply{
		status: 200, action: action + "Response", resourceURI: classURI, g: classURI,
		body: `<g:` + method + `_OUTPUT><g:ReturnValue>` + strconv.Itoa(rv) + `</g:ReturnValue></g:` + method + `_OUTPUT>`,
	}
}

// enumerateReply hands out an enumeration context.
func enumerateReply(resourceURI, enumContext string) reply {
	return reply{
		status: 200, action: actionEnumerate + "Response", resourceURI: resourceURI, g: nsEnum,
		body: `<g:EnumerateResponse><g:EnumerationContext>` + enumContext + `</g:EnumerationContext></g:EnumerateResponse>`,
	}
}

// pullReply returns all items at once (h bound to the items' class).
func pullReply(resourceURI, itemURI, items string) reply {
	return reply{
		status: 200, action: actionPull + "Response", resourceURI: resourceURI, g: nsEnum, h: itemURI,
		body: `<g:PullResponse><g:Items>` + items + `</g:Items><g:EndOfSequence></g:EndOfSequence></g:PullResponse>`,
	}
}

// faultReply is a SOAP fault. Subcodes use the envelope's prefixes: b:
// addressing, c: wsman, g: enumeration.
func faultReply(action, resourceURI, subcode, reason, detail string) reply {
	body := `<a:Fault><a:Code><a:Value>a:Sender</a:Value><a:Subcode><a:Value>` + subcode +
		`</a:Value></a:Subcode></a:Code><a:Reason><a:Text xml:lang="en-US">` + reason + `</a:Text></a:Reason><a:Detail>`
	if detail != "" {
		body += `<c:FaultDetail>` + detail + `</c:FaultDetail>`
	}
	body += `</a:Detail></a:Fault>`
	return reply{status: 400, action: action, resourceURI: resourceURI, g: nsEnum, body: body}
}

// The faults the server gives, with AMT's wording.
func faultDestinationUnreachable() reply {
	return faultReply(actionAddressingFault, "", "b:DestinationUnreachable",
		"No route can be determined to reach the destination role defined by the WSAddressing To.", "")
}

func faultActionNotSupported(resourceURI string) reply {
	return faultReply(actionAddressingFault, resourceURI, "b:ActionNotSupported",
		"The action is not supported by the service.", "")
}

func faultHeaderRequired() reply {
	return faultReply(actionAddressingFault, "", "b:MessageInformationHeaderRequired",
		"A required header representing a Message Addressing Property is not present", "")
}

func faultInvalidRepresentation(resourceURI string) reply {
	return faultReply(actionWSManFault, resourceURI, "c:InvalidRepresentation",
		"The XML content is not valid.", "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/InvalidValues")
}

func faultInvalidEnumerationContext(resourceURI string) reply {
	return faultReply(actionEnumerationFault, resourceURI, "g:InvalidEnumerationContext",
		"The supplied enumeration context is invalid.", "")
}
