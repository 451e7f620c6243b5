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
		t.row(fmt.Sprint(e.Seq), ts(e.Time), e.Actor.String(), e.Action, e.Target.String(), truncate(details, 80))
	}
	if err := t.flush(); err != nil {
		return err
	}
	if len(p.Entries) == *limit {
		fmt.Fprintf(a.stderr, "More: kvmctl audit list --after %d --limit %d\n", p.NextAfter, *limit)
	}
	return nil
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
	fs := a.cmdFlags("audit verify", "[-o table|json]")
	out := outputFlag(fs.FlagSet, "table", "json")
	if _, err := a.parse(fs, args); err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	v, err := c.VerifyAudit(ctx)
	if err != nil {
		return err
	}
	if out.value == "json" {
		if err := writeJSON(a.stdout, v); err != nil {
			return err
		}
	} else if v.OK {
		fmt.Fprintf(a.stdout, "Audit chain intact: %d entries.\n", v.Entries)
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
