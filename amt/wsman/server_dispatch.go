package wsman

import (
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
)

// Firmware is the device behind the server: the simulator's AMT state.
// Methods are called from the connection's goroutine; several connections
// may call concurrently.
type Firmware interface {
	// PowerState is the machine's power state (PowerOn, PowerOffSoft, …).
	PowerState() int
	// RequestPowerStateChange performs a power action and returns the
	// ReturnValue (ReturnSuccess, ReturnInvalidParameter, …).
	RequestPowerStateChange(state int) int
	// Features reports redirection, KVM and user-consent settings.
	Features() Features
	// StartOptIn, SendOptInCode and CancelOptIn drive user consent and
	// return the ReturnValue AMT would.
	StartOptIn() int
	SendOptInCode(code int) int
	CancelOptIn() int
	// Displays lists the screens; IsDefault marks the default one and Role
	// the primary…quaternary ones. Index is the position in the slice.
	Displays() []Display
	// SetDefaultDisplay selects the default screen; an error becomes an
	// InvalidRepresentation fault.
	SetDefaultDisplay(index int) error
}

// The request as the server reads it: only what it dispatches on.
type reqEnvelope struct {
	XMLName xml.Name `xml:"http://www.w3.org/2003/05/soap-envelope Envelope"`
	Header  struct {
		Action      string  `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing Action"`
		ResourceURI string  `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd ResourceURI"`
		MessageID   *string `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing MessageID"`
	} `xml:"http://www.w3.org/2003/05/soap-envelope Header"`
	Body *struct {
		Pull *struct {
			Context string `xml:"http://schemas.xmlsoap.org/ws/2004/09/enumeration EnumerationContext"`
		} `xml:"http://schemas.xmlsoap.org/ws/2004/09/enumeration Pull"`
		PowerChange *struct {
			PowerState string `xml:"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_PowerManagementService PowerState"`
		} `xml:"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_PowerManagementService RequestPowerStateChange_INPUT"`
		SendOptInCode *struct {
			OptInCode string `xml:"http://intel.com/wbem/wscim/1/ips-schema/1/IPS_OptInService OptInCode"`
		} `xml:"http://intel.com/wbem/wscim/1/ips-schema/1/IPS_OptInService SendOptInCode_INPUT"`
		KVMSettings *struct {
			DefaultScreen string `xml:"http://intel.com/wbem/wscim/1/ips-schema/1/IPS_KVMRedirectionSettingData DefaultScreen"`
		} `xml:"http://intel.com/wbem/wscim/1/ips-schema/1/IPS_KVMRedirectionSettingData IPS_KVMRedirectionSettingData"`
	} `xml:"http://www.w3.org/2003/05/soap-envelope Body"`
}

// parseRequest reads a request envelope; an error means it is not one (AMT
// answers such a request with a bare 400).
func parseRequest(data []byte) (*reqEnvelope, error) {
	var env reqEnvelope
	if err := xmlDecode(data, &env); err != nil {
		return nil, fmt.Errorf("wsman: parse request: %w", err)
	}
	if env.Body == nil {
		return nil, fmt.Errorf("wsman: parse request: envelope has no Body")
	}
	return &env, nil
}

func messageID(env *reqEnvelope) string {
	if env.Header.MessageID == nil {
		return ""
	}
	return strings.TrimSpace(*env.Header.MessageID)
}

// dispatch answers one parsed request from fw.
func (s *Server) dispatch(env *reqEnvelope) reply {
	h := env.Header
	uri, action := strings.TrimSpace(h.ResourceURI), strings.TrimSpace(h.Action)
	if h.MessageID == nil || action == "" {
		return faultHeaderRequired()
	}
	switch uri {
	case uriServiceAvailableToElement:
		return s.enumeration(env, uri, func() reply {
			return pullReply(uri, uriAssociatedPowerService, powerItem(s.fw.PowerState()))
		})
	case uriPowerManagementService:
		if action != actionRequestPowerStateChange {
			return faultActionNotSupported(uri)
		}
		in := env.Body.PowerChange
		if in == nil {
			return faultInvalidRepresentation(uri)
		}
		state, err := strconv.Atoi(strings.TrimSpace(in.PowerState))
		if err != nil {
			return faultInvalidRepresentation(uri)
		}
		return methodReply(action, uri, "RequestPowerStateChange", s.fw.RequestPowerStateChange(state))
	case uriRedirectionService:
		if action != actionGet {
			return faultActionNotSupported(uri)
		}
		return redirectionInstance(s.fw.Features())
	case uriOptInService:
		return s.optIn(env, action)
	case uriKVMRedirectionSAP:
		f := s.fw.Features()
		if !f.KVMAvailable {
			return faultDestinationUnreachable()
		}
		if action != actionGet {
			return faultActionNotSupported(uri)
		}
		return kvmSAPInstance(f)
	case uriScreenSettingData:
		return s.enumeration(env, uri, func() reply {
			return pullReply(uri, uri, screenItem(s.fw.Displays()))
		})
	case uriKVMRedirectionSettingData:
		return s.kvmSettings(env, action)
	}
	return faultDestinationUnreachable()
}

func (s *Server) optIn(env *reqEnvelope, action string) reply {
	switch action {
	case actionGet:
		return optInInstance(s.fw.Features())
	case actionStartOptIn:
		return methodReply(action, uriOptInService, "StartOptIn", s.fw.StartOptIn())
	case actionCancelOptIn:
		return methodReply(action, uriOptInService, "CancelOptIn", s.fw.CancelOptIn())
	case actionSendOptInCode:
		in := env.Body.SendOptInCode
		if in == nil {
			return faultInvalidRepresentation(uriOptInService)
		}
		code, err := strconv.ParseUint(strings.TrimSpace(in.OptInCode), 10, 32)
		if err != nil {
			return faultInvalidRepresentation(uriOptInService)
		}
		return methodReply(action, uriOptInService, "SendOptInCode", s.fw.SendOptInCode(int(code)))
	}
	return faultActionNotSupported(uriOptInService)
}

func (s *Server) kvmSettings(env *reqEnvelope, action string) reply {
	switch action {
	case actionGet:
		return kvmSettingsInstance(actionGet, s.fw.Features(), s.fw.Displays())
	case actionPut:
		in := env.Body.KVMSettings
		if in == nil {
			return faultInvalidRepresentation(uriKVMRedirectionSettingData)
		}
		index, err := strconv.Atoi(strings.TrimSpace(in.DefaultScreen))
		if err != nil {
			return faultInvalidRepresentation(uriKVMRedirectionSettingData)
		}
		if err := s.fw.SetDefaultDisplay(index); err != nil {
			s.log.Info("wsman: default display refused", "index", index, "err", err)
			return faultInvalidRepresentation(uriKVMRedirectionSettingData)
		}
		return kvmSettingsInstance(actionPut, s.fw.Features(), s.fw.Displays())
	}
	return faultActionNotSupported(uriKVMRedirectionSettingData)
}

// enumeration serves Enumerate (a new context) and Pull (all items, which
// ends the context) on uri.
func (s *Server) enumeration(env *reqEnvelope, uri string, pull func() reply) reply {
	switch strings.TrimSpace(env.Header.Action) {
	case actionEnumerate:
		return enumerateReply(uri, s.newEnumContext(uri))
	case actionPull:
		if env.Body.Pull == nil || !s.takeEnumContext(strings.TrimSpace(env.Body.Pull.Context), uri) {
			return faultInvalidEnumerationContext(uri)
		}
		return pull()
	}
	return faultActionNotSupported(uri)
}

// maxEnumContexts bounds open enumerations; the oldest is dropped first.
const maxEnumContexts = 64

// newEnumContext numbers contexts as AMT does: a little-endian counter in the
// first four bytes of a GUID-shaped string ("01000000-0000-…").
func (s *Server) newEnumContext(uri string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.enumCounter++
	n := s.enumCounter
	id := fmt.Sprintf("%02X%02X%02X%02X-0000-0000-0000-000000000000", byte(n), byte(n>>8), byte(n>>16), byte(n>>24))
	if len(s.enumOrder) >= maxEnumContexts {
		delete(s.enums, s.enumOrder[0])
		s.enumOrder = s.enumOrder[1:]
	}
	s.enums[id] = uri
	s.enumOrder = append(s.enumOrder, id)
	return id
}

func (s *Server) takeEnumContext(id, uri string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.enums[id] != uri || uri == "" {
		return false
	}
	delete(s.enums, id)
	for i, o := range s.enumOrder {
		if o == id {
			s.enumOrder = append(s.enumOrder[:i], s.enumOrder[i+1:]...)
			break
		}
	}
	return true
}
