package wsman

import (
	"strconv"
	"strings"
)

// The instances the server returns, properties in AMT's (alphabetical) order.

func redirectionInstance(f Features) reply {
	return getReply(uriRedirectionService,
		str("CreationClassName", "AMT_RedirectionService"),
		str("ElementName", "Intel(r) AMT Redirection Service"),
		num("EnabledState", f.RedirectionState),
		boolean("ListenerEnabled", f.ListenerEnabled),
		str("Name", "Intel(r) AMT Redirection Service"),
		str("SystemCreationClassName", "CIM_ComputerSystem"),
		str("SystemName", "Intel(r) AMT"),
	)
}

func optInInstance(f Features) reply {
	return getReply(uriOptInService,
		num("CanModifyOptInPolicy", 1),
		str("CreationClassName", "IPS_OptInService"),
		str("ElementName", "Intel(r) AMT OptIn Service"),
		str("Name", "Intel(r) AMT OptIn Service"),
		num("OptInCodeTimeout", 120),
		num("OptInDisplayTimeout", 300),
		prop{"OptInRequired", strconv.FormatUint(uint64(f.OptInRequired), 10)},
		num("OptInState", f.OptInState),
		str("SystemCreationClassName", "CIM_ComputerSystem"),
		str("SystemName", "Intel(r) AMT"),
	)
}

func kvmSAPInstance(f Features) reply {
	return getReply(uriKVMRedirectionSAP,
		str("CreationClassName", "CIM_KVMRedirectionSAP"),
		str("ElementName", "KVM Redirection Service Access Point"),
		num("EnabledState", f.KVMEnabledState),
		num("KVMProtocol", 4), // VNC-RFB
		str("Name", "KVM Redirection Service Access Point"),
		num("RequestedState", f.KVMRequestedState),
		str("SystemCreationClassName", "CIM_ComputerSystem"),
		str("SystemName", "ManagedSystem"),
	)
}

// kvmSettingsInstance answers a Get or a Put (AMT returns the instance as
// it now is).
func kvmSettingsInstance(action string, f Features, displays []Display) reply {
	def := 0
	for i, d := range displays {
		if d.IsDefault {
			def = i
			break
		}
	}
	r := getReply(uriKVMRedirectionSettingData,
		boolean("BackToBackFbMode", false),
		num("DefaultScreen", def),
		boolean("DoubleBufferMode", false),
		boolean("DoubleBufferState", false),
		str("ElementName", "Intel(r) KVM Redirection Settings"),
		boolean("EnabledByMEBx", true),
		boolean("GreyscalePixelFormatSupported", true),
		num("InitialDecimationModeForLowRes", 0),
		str("InstanceID", "Intel(r) KVM Redirection Settings"),
		boolean("Is5900PortEnabled", false),
		boolean("OptInPolicy", f.OptInRequired != OptInNone),
		num("SessionTimeout", 0),
		boolean("ZlibControlSupported", true),
	)
	r.action = action + "Response"
	return r
}

// powerItem is the CIM_AssociatedPowerManagementService association between
// the machine and AMT's power management service.
func powerItem(state int) string {
	var avail []int
	switch state {
	case PowerOn:
		avail = []int{PowerOffSoft, PowerMasterBusReset, PowerCycleSoft}
	case PowerSleepLight, PowerSleepDeep:
		avail = []int{PowerOffSoft, PowerOn, PowerCycleSoft}
	default:
		avail = []int{PowerOn}
	}
	var b strings.Builder
	b.WriteString(`<h:CIM_AssociatedPowerManagementService>`)
	for _, a := range avail {
		b.WriteString(`<h:AvailableRequestedPowerStates>` + strconv.Itoa(a) + `</h:AvailableRequestedPowerStates>`)
	}
	b.WriteString(`<h:PowerState>` + strconv.Itoa(state) + `</h:PowerState>`)
	b.WriteString(`<h:ServiceProvided>` + endpointRef(uriPowerManagementService,
		"CreationClassName", "CIM_PowerManagementService",
		"Name", "Intel(r) AMT Power Management Service",
		"SystemCreationClassName", "CIM_ComputerSystem",
		"SystemName", "Intel(r) AMT") + `</h:ServiceProvided>`)
	b.WriteString(`<h:UserOfService>` + endpointRef(uriComputerSystem,
		"CreationClassName", "CIM_ComputerSystem",
		"Name", "ManagedSystem") + `</h:UserOfService>`)
	b.WriteString(`</h:CIM_AssociatedPowerManagementService>`)
	return b.String()
}

// endpointRef writes an EPR: address, resource URI and selector name/value pairs.
func endpointRef(uri string, selectors ...string) string {
	var b strings.Builder
	b.WriteString(`<b:Address>` + anonymous + `</b:Address><b:ReferenceParameters><c:ResourceURI>` + uri + `</c:ResourceURI><c:SelectorSet>`)
	for i := 0; i+1 < len(selectors); i += 2 {
		b.WriteString(`<c:Selector Name="` + selectors[i] + `">` + escapeText(selectors[i+1]) + `</c:Selector>`)
	}
	b.WriteString(`</c:SelectorSet></b:ReferenceParameters>`)
	return b.String()
}

// screenItem is the one IPS_ScreenSettingData instance: per-screen arrays,
// and the index of each role (left out when no screen has it).
func screenItem(displays []Display) string {
	roles := map[string]int{}
	for i, d := range displays {
		if _, ok := roles[d.Role]; !ok && d.Role != "" {
			roles[d.Role] = i
		}
	}
	var b strings.Builder
	each := func(name string, v func(Display) string) {
		for _, d := range displays {
			b.WriteString(`<h:` + name + `>` + v(d) + `</h:` + name + `>`)
		}
	}
	role := func(name, r string) {
		if i, ok := roles[r]; ok {
			b.WriteString(`<h:` + name + `>` + strconv.Itoa(i) + `</h:` + name + `>`)
		}
	}
	b.WriteString(`<h:IPS_ScreenSettingData><h:ElementName>Intel(r) Screen Settings</h:ElementName><h:InstanceID>Intel(r) Screen Settings 0</h:InstanceID>`)
	each("IsActive", func(d Display) string { return strconv.FormatBool(d.IsActive) })
	role("PrimaryIndex", RolePrimary)
	role("QuadraryIndex", RoleQuaternary)
	each("ResolutionX", func(d Display) string { return strconv.Itoa(d.ResolutionX) })
	each("ResolutionY", func(d Display) string { return strconv.Itoa(d.ResolutionY) })
	role("SecondaryIndex", RoleSecondary)
	role("TertiaryIndex", RoleTertiary)
	each("UpperLeftX", func(d Display) string { return strconv.Itoa(d.UpperLeftX) })
	each("UpperLeftY", func(d Display) string { return strconv.Itoa(d.UpperLeftY) })
	b.WriteString(`</h:IPS_ScreenSettingData>`)
	return b.String()
}
