package wsman

// Namespaces and prefixes of the envelope parts.
const (
	nsSOAP = "http://www.w3.org/2003/05/soap-envelope"
	nsAddr = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
	nsMan  = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
	nsEnum = "http://schemas.xmlsoap.org/ws/2004/09/enumeration"

	anonymous = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
)

// Resource URIs: a schema base followed by the class name.
const (
	cimBase = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/"
	amtBase = "http://intel.com/wbem/wscim/1/amt-schema/1/"
	ipsBase = "http://intel.com/wbem/wscim/1/ips-schema/1/"

	uriServiceAvailableToElement = cimBase + "CIM_ServiceAvailableToElement"
	uriAssociatedPowerService    = cimBase + "CIM_AssociatedPowerManagementService"
	uriPowerManagementService    = cimBase + "CIM_PowerManagementService"
	uriComputerSystem            = cimBase + "CIM_ComputerSystem"
	uriKVMRedirectionSAP         = cimBase + "CIM_KVMRedirectionSAP"
	uriRedirectionService        = amtBase + "AMT_RedirectionService"
	uriOptInService              = ipsBase + "IPS_OptInService"
	uriScreenSettingData         = ipsBase + "IPS_ScreenSettingData"
	uriKVMRedirectionSettingData = ipsBase + "IPS_KVMRedirectionSettingData"
)

// Actions. A method's response action is its action plus "Response".
const (
	actionGet       = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get"
	actionPut       = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Put"
	actionEnumerate = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate"
	actionPull      = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Pull"

	actionRequestPowerStateChange = uriPowerManagementService + "/RequestPowerStateChange"
	actionStartOptIn              = uriOptInService + "/StartOptIn"
	actionSendOptInCode           = uriOptInService + "/SendOptInCode"
	actionCancelOptIn             = uriOptInService + "/CancelOptIn"

	actionAddressingFault  = "http://schemas.xmlsoap.org/ws/2004/08/addressing/fault"
	actionWSManFault       = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"
	actionEnumerationFault = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/fault"
)

// wsmanPath is the only HTTP path AMT serves WS-Man on.
const wsmanPath = "/wsman"
