package device

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/kvmrelay/kvmrelay/amt/apf"
	"github.com/kvmrelay/kvmrelay/control/store"
)

// Machines listed by MPS tags: an admin gives a gateway MPS tags (store.Device.AMTTags), and
// every machine the gateway reports (from MPS's device list) that carries one of them gets its
// device row (Adopt), so a data center's thousands of tagged AMT machines are not created one
// by one. An admin's revocation of such a row sticks: a GUID the gateway has a row for, revoked
// or not, is never adopted again (deleting the row lets it be adopted anew).

// Limits on a gateway's AMT tags and on adoption.
const (
	MaxAMTTags   = 32 // per gateway
	MaxAMTTagLen = 64 // bytes per tag; fits a label value (the mps-tag label)
	// MaxServed bounds the rows one gateway serves, revoked ones included: past it Adopt
	// creates nothing more (an admin still may). ServiceConfig.MaxServed may lower it.
	MaxServed = 10_000
	// MaxAdoptBatch bounds the machines one Adopt call considers (a gateway's report carries
	// at most 512); the rest are ignored until a later report.
	MaxAdoptBatch = 512
	// LabelMPSTag is the label an adopted device gets: the tag it was adopted by, so label
	// scopes can be given by tag.
	LabelMPSTag = "mps-tag"
)

// ErrTagsNotGateway: AMT tags were given to a device that is not a gateway. Matched by a
// *RequestError.
var ErrTagsNotGateway = errors.New("device: AMT tags on a device that is not a gateway")

// CheckTags checks the MPS tags an admin gives a gateway: at most MaxAMTTags, each 1 to
// MaxAMTTagLen bytes of printable characters (as CheckText) without surrounding space;
// duplicates are removed, the first kept, order otherwise kept. It returns nil for none.
// Errors wrap store.ErrInvalid.
func CheckTags(tags []string) ([]string, error) {
	var out []string
	for _, tag := range tags {
		if err := CheckText(fmt.Sprintf("AMT tag %q", tag), tag, MaxAMTTagLen); err != nil {
			return nil, err
		}
		if strings.TrimSpace(tag) != tag {
			// Gateways report machines' tags trimmed: this one would never match.
			return nil, fmt.Errorf("AMT tag %q starts or ends with a space, which MPS tags as gateways report them never do; remove it: %w", tag, store.ErrInvalid)
		}
		if !slices.Contains(out, tag) {
			out = append(out, tag)
		}
	}
	if len(out) > MaxAMTTags {
		return nil, fmt.Errorf("at most %d AMT tags (got %d): %w", MaxAMTTags, len(out), store.ErrInvalid)
	}
	return out, nil
}

// tagsNotGateway refuses AMT tags for device name, which is not a gateway.
func tagsNotGateway(name string) error {
	return &RequestError{Err: ErrTagsNotGateway, Msg: fmt.Sprintf(
		"Device %q is not a gateway, and only a gateway has AMT tags (the MPS tags of the machines it adopts); leave the tags out, or give them to a gateway.", name)}
}

// Discovered is a machine a gateway reports reachable, as its service (MPS) lists it:
// hostile text from the gateway, bounded by the signaling layer (target: a GUID token ≤ 64
// chars; name ≤ 64 bytes; at most 16 tags of ≤ 64 bytes each).
type Discovered struct {
	Target string   // the AMT GUID (any case)
	Name   string   // MPS's hostname or friendly name; may be empty or hostile
	Tags   []string // MPS's tags
}

// adoptee is a reported machine the gateway adopts: its canonical GUID, the tag it is
// adopted by and the name MPS gave it.
type adoptee struct {
	guid, tag, name string
}

// Adopt creates the device rows of the machines gateway gatewayID reports whose MPS tags
// include one of the gateway's AMTTags, unless the gateway already has a row for that GUID
// (revoked included: an admin's revocation sticks). It returns how many rows it created.
// A revoked gateway, or one without AMTTags, adopts nothing (0, nil). Audited.
//
// A machine whose GUID does not parse is skipped; so is one whose name (cleaned, or with its
// GUID's first 8 hex digits appended) is taken, and every one past MaxServed rows: logged,
// not errors. A new row is named after the machine, labelled with the gateway's labels (so
// whoever's scope covers the gateway sees its machines) and LabelMPSTag, and audited as a
// device_create by the gateway's agent. Reports that adopt nothing (the usual case) cost one
// read transaction; the rows are created in one write transaction.
func (s *Service) Adopt(ctx context.Context, orgID, gatewayID string, found []Discovered) (int, error) {
	if len(found) > MaxAdoptBatch {
		s.log.Warn("gateway reported more machines at once than are adopted; the rest wait for a later report",
			"org", orgID, "gateway", gatewayID, "reported", len(found), "considered", MaxAdoptBatch)
		found = found[:MaxAdoptBatch]
	}
	var some bool
	err := s.cfg.Store.Read(ctx, orgID, func(tx store.Tx) error {
		_, _, todo, err := adoptees(ctx, tx, gatewayID, found)
		some = len(todo) > 0
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("adopt machines of gateway %s: %w", gatewayID, err)
	}
	if !some {
		return 0, nil
	}
	var created int
	err = s.cfg.Store.Write(ctx, orgID, func(tx store.Tx) error {
		// Again inside the write: the gateway may have been revoked or retagged, or the
		// machines adopted by another node, since the read.
		gw, served, todo, err := adoptees(ctx, tx, gatewayID, found)
		if err != nil || len(todo) == 0 {
			return err
		}
		// Names are unique ignoring case; a failed insert would abort a PostgreSQL
		// transaction (and with it the whole report's adoption), so the names taken are read
		// once and checked here.
		all, err := tx.Devices(ctx)
		if err != nil {
			return err
		}
		taken := make(names, 2*len(all))
		for _, d := range all {
			taken.add(d.Name)
		}
		for i, a := range todo {
			if served+created >= s.cfg.MaxServed {
				s.log.Warn("gateway serves the most devices allowed; its other tagged machines are not adopted",
					"org", orgID, "gateway", gatewayID, "max", s.cfg.MaxServed, "skipped", len(todo)-i)
				break
			}
			name, ok := adoptedName(a, taken)
			if !ok {
				s.log.Warn("tagged AMT machine not adopted: its name is taken; create its device by hand (kvmctl devices create NAME --amt-gateway GW --amt-guid GUID)",
					"org", orgID, "gateway", gatewayID, "target", a.guid, "name", name)
				continue
			}
			if err := s.adoptOne(ctx, tx, gw, a, name); err != nil {
				return err
			}
			taken.add(name)
			created++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("adopt machines of gateway %s: %w", gatewayID, err)
	}
	if created > 0 {
		s.log.Info("gateway's tagged AMT machines adopted", "org", orgID, "gateway", gatewayID, "created", created)
	}
	return created, nil
}

// adoptees reads gateway gatewayID and returns it, how many rows it serves, and the machines
// of found it adopts: parsed GUIDs it has no row for (each once), carrying one of its tags.
// None for a gateway revoked, without tags, or a device of another kind.
func adoptees(ctx context.Context, tx store.Tx, gatewayID string, found []Discovered) (store.Device, int, []adoptee, error) {
	gw, err := tx.Device(ctx, gatewayID)
	if err != nil {
		return gw, 0, nil, fmt.Errorf("gateway %s: %w", gatewayID, err)
	}
	if gw.Kind != store.DeviceGateway || gw.RevokedAt != nil || len(gw.AMTTags) == 0 {
		return gw, 0, nil, nil
	}
	served, err := tx.ServedDevices(ctx, gatewayID)
	if err != nil {
		return gw, 0, nil, err
	}
	have := make(map[string]bool, len(served))
	for _, d := range served {
		have[strings.ToLower(d.Target)] = true
	}
	var out []adoptee
	for _, m := range found {
		g, err := apf.ParseGUID(m.Target)
		if err != nil {
			continue // hostile or garbled: not a machine anyone can reach
		}
		guid := g.String()
		if have[guid] {
			continue
		}
		tag, ok := firstTag(gw.AMTTags, m.Tags)
		if !ok {
			continue
		}
		have[guid] = true // once, however often it is reported
		out = append(out, adoptee{guid: guid, tag: tag, name: m.Name})
	}
	return gw, len(served), out, nil
}

// firstTag is the first of the gateway's tags, in its order, that the machine carries.
func firstTag(gateway, machine []string) (string, bool) {
	for _, t := range gateway {
		if slices.Contains(machine, t) {
			return t, true
		}
	}
	return "", false
}

// adoptedName is the name a adopted machine gets: MPS's name cleaned to what a device name may
// hold (or amt-<first 8 hex digits of its GUID> when nothing is left); when that is taken, the
// same with "-<8 hex digits>" appended. ok is false when both are taken; name is then the
// first, for the log.
func adoptedName(a adoptee, taken names) (name string, ok bool) {
	short := a.guid[:8] // the canonical GUID starts with 8 hex digits
	name = CleanText(a.name, MaxNameLen)
	if name == "" || CheckText("name", name, MaxNameLen) != nil {
		name = "amt-" + short
	}
	if !taken.has(name) {
		return name, true
	}
	alt := CleanText(name, MaxNameLen-len(short)-1) + "-" + short
	if !taken.has(alt) {
		return alt, true
	}
	return name, false
}

// adoptOne creates and audits the row of one adopted machine, inside tx.
func (s *Service) adoptOne(ctx context.Context, tx store.Tx, gw store.Device, a adoptee, name string) error {
	labels := maps.Clone(gw.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	if _, has := labels[LabelMPSTag]; has || len(labels) < MaxLabels {
		labels[LabelMPSTag] = a.tag
	}
	d, err := tx.CreateDevice(ctx, store.Device{Name: name, Labels: labels, Kind: store.DeviceAgent,
		GatewayID: gw.ID, Target: a.guid, CreatedAt: s.cfg.Now()})
	if err != nil {
		return fmt.Errorf("adopt machine %s as %q: %w", a.guid, name, err)
	}
	_, err = tx.AppendAudit(ctx, store.AuditRecord{Time: s.cfg.Now(), Actor: "device:" + gw.ID,
		Action: store.AuditDeviceCreate, Target: "device:" + d.ID, Details: map[string]string{
			"name": name, "labels": FormatLabels(labels), "kind": string(store.DeviceAgent),
			"gateway": gw.ID, "gateway_name": gw.Name, "target": a.guid, "adopted_by_tag": a.tag}})
	return err
}

// names is a set of device names as the unique index compares them: lower(name). SQLite's
// lower folds A-Z only, PostgreSQL's every letter its locale knows; a name is taken when
// either folding matches, so no insert trips the index.
type names map[string]bool

func (n names) add(name string) {
	n[lowerASCII(name)] = true
	n[strings.ToLower(name)] = true
}

func (n names) has(name string) bool { return n[lowerASCII(name)] || n[strings.ToLower(name)] }

// lowerASCII folds A-Z only.
func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// formatTags writes tags as a JSON array, for audit details: tags may hold commas.
func formatTags(tags []string) string {
	if len(tags) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(tags) // strings only: cannot fail
	return string(b)
}
