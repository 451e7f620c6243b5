package wsman

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"strings"
)

// ErrFault is wrapped by every *FaultError: the device answered with a SOAP fault.
var ErrFault = errors.New("wsman: SOAP fault")

// errMalformed marks a response that is not the envelope it should be.
var errMalformed = errors.New("wsman: malformed response")

// FaultError is a SOAP fault from the device.
type FaultError struct {
	Status  int    // HTTP status it came with
	Code    string // e.g. "a:Sender"
	Subcode string // e.g. "b:ActionNotSupported"
	Reason  string
	Detail  string
}

func (e *FaultError) Error() string {
	s := fmt.Sprintf("wsman: device answered with a SOAP fault (HTTP %d): %s", e.Status, e.Reason)
	if e.Subcode != "" {
		s += " [" + e.Subcode + "]"
	}
	return s
}

// Unwrap makes errors.Is(err, ErrFault) true.
func (e *FaultError) Unwrap() error { return ErrFault }

type soapFault struct {
	Code struct {
		Value   string `xml:"http://www.w3.org/2003/05/soap-envelope Value"`
		Subcode struct {
			Value string `xml:"http://www.w3.org/2003/05/soap-envelope Value"`
		} `xml:"http://www.w3.org/2003/05/soap-envelope Subcode"`
	} `xml:"http://www.w3.org/2003/05/soap-envelope Code"`
	Reason struct {
		Text  []string `xml:"http://www.w3.org/2003/05/soap-envelope Text"`
		Chars string   `xml:",chardata"`
	} `xml:"http://www.w3.org/2003/05/soap-envelope Reason"`
	Detail struct {
		FaultDetail string `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd FaultDetail"`
	} `xml:"http://www.w3.org/2003/05/soap-envelope Detail"`
}

// faultBody is embedded in every response body type.
type faultBody struct {
	Fault *soapFault `xml:"http://www.w3.org/2003/05/soap-envelope Fault"`
}

func (f faultBody) fault() *soapFault { return f.Fault }

type faulter interface{ fault() *soapFault }

type respHeader struct {
	To          string `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing To"`
	RelatesTo   string `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing RelatesTo"`
	Action      string `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing Action"`
	MessageID   string `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing MessageID"`
	ResourceURI string `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd ResourceURI"`
}

type respEnvelope[B faulter] struct {
	XMLName xml.Name   `xml:"http://www.w3.org/2003/05/soap-envelope Envelope"`
	Header  respHeader `xml:"http://www.w3.org/2003/05/soap-envelope Header"`
	Body    *B         `xml:"http://www.w3.org/2003/05/soap-envelope Body"`
}

// decodeResponse parses a response envelope into body B. A fault becomes a
// *FaultError, whatever the HTTP status; a non-fault needs status 200 and
// RelatesTo equal to the request's MessageID (MPS pairs them by it).
func decodeResponse[B faulter](status int, data []byte, messageID string) (*B, error) {
	var env respEnvelope[B]
	if err := xmlDecode(data, &env); err != nil {
		return nil, fmt.Errorf("%w: %w", errMalformed, err)
	}
	if env.Body == nil {
		return nil, fmt.Errorf("%w: envelope has no Body", errMalformed)
	}
	if f := (*env.Body).fault(); f != nil {
		reason := strings.TrimSpace(strings.Join(f.Reason.Text, " "))
		if reason == "" {
			reason = strings.TrimSpace(f.Reason.Chars)
		}
		return nil, &FaultError{
			Status:  status,
			Code:    strings.TrimSpace(f.Code.Value),
			Subcode: strings.TrimSpace(f.Code.Subcode.Value),
			Reason:  reason,
			Detail:  strings.TrimSpace(f.Detail.FaultDetail),
		}
	}
	if status != 200 {
		return nil, fmt.Errorf("%w: HTTP status %d without a SOAP fault", errMalformed, status)
	}
	if strings.TrimSpace(env.Header.RelatesTo) != messageID {
		return nil, fmt.Errorf("%w: RelatesTo %.40q does not match MessageID %q", errMalformed, env.Header.RelatesTo, messageID)
	}
	return env.Body, nil
}

// Response bodies, one per call.

type enumerateBody struct {
	faultBody
	Response *struct {
		Context string `xml:"http://schemas.xmlsoap.org/ws/2004/09/enumeration EnumerationContext"`
	} `xml:"http://schemas.xmlsoap.org/ws/2004/09/enumeration EnumerateResponse"`
}

type pullPowerBody struct {
	faultBody
	Response *struct {
		Items struct {
			Power []struct {
				PowerState *int `xml:"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_AssociatedPowerManagementService PowerState"`
			} `xml:"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_AssociatedPowerManagementService CIM_AssociatedPowerManagementService"`
		} `xml:"http://schemas.xmlsoap.org/ws/2004/09/enumeration Items"`
	} `xml:"http://schemas.xmlsoap.org/ws/2004/09/enumeration PullResponse"`
}

type powerChangeBody struct {
	faultBody
	Output *struct {
		ReturnValue *int `xml:"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_PowerManagementService ReturnValue"`
	} `xml:"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_PowerManagementService RequestPowerStateChange_OUTPUT"`
}

type optInMethodBody struct {
	faultBody
	Start *struct {
		ReturnValue *int `xml:"http://intel.com/wbem/wscim/1/ips-schema/1/IPS_OptInService ReturnValue"`
	} `xml:"http://intel.com/wbem/wscim/1/ips-schema/1/IPS_OptInService StartOptIn_OUTPUT"`
	Send *struct {
		ReturnValue *int `xml:"http://intel.com/wbem/wscim/1/ips-schema/1/IPS_OptInService ReturnValue"`
	} `xml:"http://intel.com/wbem/wscim/1/ips-schema/1/IPS_OptInService SendOptInCode_OUTPUT"`
	Cancel *struct {
		ReturnValue *int `xml:"http://intel.com/wbem/wscim/1/ips-schema/1/IPS_OptInService ReturnValue"`
	} `xml:"http://intel.com/wbem/wscim/1/ips-schema/1/IPS_OptInService CancelOptIn_OUTPUT"`
}

type redirectionBody struct {
	faultBody
	Service *struct {
		EnabledState    *int  `xml:"http://intel.com/wbem/wscim/1/amt-schema/1/AMT_RedirectionService EnabledState"`
		ListenerEnabled *bool `xml:"http://intel.com/wbem/wscim/1/amt-schema/1/AMT_RedirectionService ListenerEnabled"`
	} `xml:"http://intel.com/wbem/wscim/1/amt-schema/1/AMT_RedirectionService AMT_RedirectionService"`
}

type optInServiceBody struct {
	faultBody
	Service *struct {
		OptInRequired *uint32 `xml:"http://intel.com/wbem/wscim/1/ips-schema/1/IPS_OptInService OptInRequired"`
		OptInState    *int    `xml:"http://intel.com/wbem/wscim/1/ips-schema/1/IPS_OptInService OptInState"`
	} `xml:"http://intel.com/wbem/wscim/1/ips-schema/1/IPS_OptInService IPS_OptInService"`
}

type kvmSAPBody struct {
	faultBody
	SAP *struct {
		EnabledState   *int `xml:"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_KVMRedirectionSAP EnabledState"`
		RequestedState *int `xml:"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_KVMRedirectionSAP RequestedState"`
	} `xml:"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_KVMRedirectionSAP CIM_KVMRedirectionSAP"`
}

type screenSettings struct {
	PrimaryIndex   *int   `xml:"http://intel.com/wbem/wscim/1/ips-schema/1/IPS_ScreenSettingData PrimaryIndex"`
	SecondaryIndex *int   `xml:"http://intel.com/wbem/wscim/1/ips-schema/1/IPS_ScreenSettingData SecondaryIndex"`
	TertiaryIndex  *int   `xml:"http://intel.com/wbem/wscim/1/ips-schema/1/IPS_ScreenSettingData TertiaryIndex"`
	QuadraryIndex  *int   `xml:"http://intel.com/wbem/wscim/1/ips-schema/1/IPS_ScreenSettingData QuadraryIndex"`
	IsActive       []bool `xml:"http://intel.com/wbem/wscim/1/ips-schema/1/IPS_ScreenSettingData IsActive"`
	UpperLeftX     []int  `xml:"http://intel.com/wbem/wscim/1/ips-schema/1/IPS_ScreenSettingData UpperLeftX"`
	UpperLeftY     []int  `xml:"http://intel.com/wbem/wscim/1/ips-schema/1/IPS_ScreenSettingData UpperLeftY"`
	ResolutionX    []int  `xml:"http://intel.com/wbem/wscim/1/ips-schema/1/IPS_ScreenSettingData ResolutionX"`
	ResolutionY    []int  `xml:"http://intel.com/wbem/wscim/1/ips-schema/1/IPS_ScreenSettingData ResolutionY"`
}

type pullScreenBody struct {
	faultBody
	Response *struct {
		Items struct {
			Screens []screenSettings `xml:"http://intel.com/wbem/wscim/1/ips-schema/1/IPS_ScreenSettingData IPS_ScreenSettingData"`
		} `xml:"http://schemas.xmlsoap.org/ws/2004/09/enumeration Items"`
	} `xml:"http://schemas.xmlsoap.org/ws/2004/09/enumeration PullResponse"`
}

// rawField keeps one property of an instance as text, for writing it back.
type rawField struct {
	XMLName xml.Name
	Value   string `xml:",chardata"`
}

type kvmSettingsBody struct {
	faultBody
	Settings *struct {
		Fields []rawField `xml:",any"`
	} `xml:"http://intel.com/wbem/wscim/1/ips-schema/1/IPS_KVMRedirectionSettingData IPS_KVMRedirectionSettingData"`
}

// xmlDecode decodes one XML document into v.
func xmlDecode(data []byte, v any) error {
	return xml.NewDecoder(bytes.NewReader(data)).Decode(v)
}
