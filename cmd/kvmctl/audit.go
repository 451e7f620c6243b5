package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"

	"github.com/kvmrelay/kvmrelay/control/client"
)

func (a *app) auditList(ctx context.Context, args []string) error {
	fs := a.cmdFlags("audit list", "[--after SEQ] [--limit N] [-o table|json|jsonl]")
	after := fs.Int64("after", 0, "entries after this seq")
	limit := fs.Int("limit", 100, "at most this many entries")
	out := outputFlag(fs.FlagSet, "table", "json", "jsonl")
	if _, err := a.parse(fs, args); err != nil {
		return err
	}
	if *after < 0 || *limit <= 0 {
		return usageErr("audit list: --after must be ≥ 0 and --limit > 0")
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	p, err := c.Audit(ctx, *after, *limit)
	if err != nil {
		return err
	}
	switch out.value {
	case "json":
		raw := make([]json.RawMessage, len(p.Entries))
		for i, e := range p.Entries {
			raw[i] = e.Raw
		}
		return writeJSON(a.stdout, struct {
			Entries   []json.RawMessage `json:"entries"`
			NextAfter int64             `json:"next_after"`
		}{raw, p.NextAfter})
	case "jsonl":
		return a.writeJSONLines(p.Entries)
	}
	t := newTable(a.stdout, "SEQ", "TIME", "ACTOR", "ACTION", "TARGET", "DETAILS")
	for _, e := range p.Entries {
		details := string(e.Details)
		if details == "{}" || details == "null" {
			details = ""
		}
		t.row(fmt.Sprint(e.Seq), ts(e.Time), actorCell(e), e.Action, e.Target.String(), truncate(details, 80))
	}
	if err := t.flush(); err != nil {
		return err
	}
	if len(p.Entries) == *limit {
		fmt.Fprintf(a.stderr, "More: kvmctl audit list --after %d --limit %d\n", p.NextAfter, *limit)
	}
	return nil
}

// actorCell names who acted: "vera@acme.example (user:…)", or the bare actor id when the
// entry carries no name (the system, entries older than actor names).
func actorCell(e client.AuditEntry) string {
	if name := e.ActorName.String(); name != "" {
		return name + " (" + e.Actor.String() + ")"
	}
	return e.Actor.String()
}

// writeJSONLines writes each entry as the server sent it, one a line.
func (a *app) writeJSONLines(entries []client.AuditEntry) error {
	w := bufio.NewWriter(a.stdout)
	for _, e := range entries {
		if err := writeLine(w, e); err != nil {
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

func writeLine(w *bufio.Writer, e client.AuditEntry) error {
	if _, err := w.Write(e.Raw); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if err := w.WriteByte('\n'); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

func (a *app) auditVerify(ctx context.Context, args []string) error {
	fs := a.cmdFlags("audit verify", "[--no-witness] [-o table|json]")
	noWitness := fs.Bool("no-witness", false, "neither check nor record the head this kvmctl saw at its last verification")
	out := outputFlag(fs.FlagSet, "table", "json")
	if _, err := a.parse(fs, args); err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	// The witness: the head of this organization's chain at the last successful verification
	// from this config directory. Passing it lets the server say whether the chain still holds
	// that entry: rows removed from the end, or the chain rewritten and re-anchored, would
	// otherwise verify as a consistent (shorter or different) chain.
	var orgID string
	var witness client.AuditHead
	haveWitness := false
	if !*noWitness {
		me, err := c.Me(ctx)
		if err != nil {
			return err
		}
		orgID = me.OrgID
		if witness, haveWitness, err = c.Witness(orgID); err != nil {
			return err
		}
	}
	v, err := c.VerifyAuditWitness(ctx, witness)
	if err != nil {
		return err
	}
	if v.OK && !*noWitness && v.HeadSeq > 0 {
		if err := c.SaveWitness(ctx, orgID, client.AuditHead{Seq: v.HeadSeq, Hash: v.HeadHash}); err != nil {
			return fmt.Errorf("the chain is intact, but its head could not be recorded for the next verification: %w", err)
		}
	}
	if out.value == "json" {
		if err := writeJSON(a.stdout, v); err != nil {
			return err
		}
	} else if v.OK {
		fmt.Fprintf(a.stdout, "Audit chain intact: %d entries.\n", v.Entries)
		switch {
		case *noWitness:
		case haveWitness:
			fmt.Fprintf(a.stdout, "It still holds seq %d as this kvmctl verified it last time.\n", witness.Seq)
		case v.HeadSeq > 0:
			fmt.Fprintf(a.stdout, "First verification from here: head seq %d recorded; later runs check the chain still holds it.\n", v.HeadSeq)
		}
	}
	if haveWitness && v.Witness == client.WitnessMissing {
		return &client.ChainBrokenError{Seq: witness.Seq, Reason: fmt.Sprintf(
			"the chain no longer contains the entry this kvmctl verified last time (seq %d, hash %s): entries were removed or the chain was rewritten since; keep a copy (kvmctl audit export) and investigate. Server: %s",
			witness.Seq, witness.Hash, v.Reason)}
	}
	if err := v.Err(); err != nil {
		return fmt.Errorf("%w\nthe first broken row is seq %d: it and every row after it cannot be trusted; keep a copy for investigation with kvmctl audit export",
			err, v.BrokenSeq)
	}
	return nil
}

func (a *app) auditExport(ctx context.Context, args []string) error {
	fs := a.cmdFlags("audit export", "[--after SEQ] [--page-size N]")
	after := fs.Int64("after", 0, "entries after this seq")
	pageSize := fs.Int("page-size", 500, "entries per request")
	if _, err := a.parse(fs, args); err != nil {
		return err
	}
	if *after < 0 || *pageSize <= 0 {
		return usageErr("audit export: --after must be ≥ 0 and --page-size > 0")
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	w := bufio.NewWriter(a.stdout)
	err = c.ExportAudit(ctx, *after, *pageSize, func(e client.AuditEntry) error { return writeLine(w, e) })
	if ferr := w.Flush(); err == nil && ferr != nil {
		err = fmt.Errorf("write: %w", ferr)
	}
	return err
}
