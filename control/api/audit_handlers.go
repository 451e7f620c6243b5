package api

import (
	"bufio"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/kvmrelay/kvmrelay/control/store"
)

type auditList struct {
	Entries   []auditView `json:"entries"`
	NextAfter int64       `json:"next_after"`
}

const maxAuditPage = 1000

func (a *API) listAudit(c *fiber.Ctx) error {
	p := principalOf(c)
	after := int64(c.QueryInt("after", 0))
	limit := c.QueryInt("limit", 100)
	if after < 0 || limit <= 0 || limit > maxAuditPage {
		return fail(c, fiber.StatusBadRequest, CodeBadRequest, "after must be ≥ 0 and limit between 1 and 1000.")
	}
	out := auditList{Entries: []auditView{}, NextAfter: after}
	err := a.cfg.Store.Read(c.UserContext(), p.OrgID, func(tx store.Tx) error {
		es, err := tx.Audit(c.UserContext(), after, limit)
		for _, e := range es {
			out.Entries = append(out.Entries, audit(e))
			out.NextAfter = e.Seq
		}
		return err
	})
	if err != nil {
		return a.failErr(c, err)
	}
	return c.JSON(out)
}

// exportAudit streams the whole chain as JSON lines, one page per read transaction, each page
// written (and flushed to the client) before the next is read: memory stays one page however
// long the chain. The first page is read before answering, so a failing store is still a JSON
// error; a failure later can only cut the stream short (logged; the last line is then not
// the chain's head, which a reader verifying the export notices).
func (a *API) exportAudit(c *fiber.Ctx) error {
	p := principalOf(c)
	// The stream writer runs after this handler returned, when c is no longer ours to read.
	ctx, orgID, log := c.UserContext(), p.OrgID, a.log
	readPage := func(after int64) ([]store.AuditEntry, error) {
		var page []store.AuditEntry
		err := a.cfg.Store.Read(ctx, orgID, func(tx store.Tx) error {
			var err error
			page, err = tx.Audit(ctx, after, maxAuditPage)
			return err
		})
		return page, err
	}
	first, err := readPage(0)
	if err != nil {
		return a.failErr(c, err)
	}
	c.Set(fiber.HeaderContentType, "application/x-ndjson")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="audit.jsonl"`)
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		enc := json.NewEncoder(w)
		page := first
		for len(page) > 0 {
			for _, e := range page {
				if err := enc.Encode(audit(e)); err != nil {
					log.Warn("audit export cut short: client gone", "org", orgID, "seq", e.Seq, "err", err)
					return
				}
			}
			if err := w.Flush(); err != nil {
				log.Warn("audit export cut short: client gone", "org", orgID, "err", err)
				return
			}
			after := page[len(page)-1].Seq
			if page, err = readPage(after); err != nil {
				log.Error("audit export cut short: store", "org", orgID, "after", after, "err", err)
				return
			}
		}
	})
	return nil
}

type verifyView struct {
	OK        bool   `json:"ok"`
	Entries   int64  `json:"entries"`
	BrokenSeq int64  `json:"broken_seq,omitempty"`
	Reason    string `json:"reason,omitempty"`
	// HeadSeq and HeadHash name the newest entry of an intact chain: a reader keeps them and
	// passes them back as witness_seq and witness_hash next time.
	HeadSeq  int64  `json:"head_seq"`
	HeadHash string `json:"head_hash"`
	// Witness is "none" (none given), "ok" (the chain still holds that entry) or "missing"
	// (the chain no longer holds what the reader saw: shortened or rewritten from there).
	Witness string `json:"witness"`
}

// Witness outcomes.
const (
	witnessNone    = "none"
	witnessOK      = "ok"
	witnessMissing = "missing"
)

// verifyAudit walks the chain, checks it against the anchored head and, with ?witness_seq=
// &witness_hash=, against a head the reader kept from an earlier verification.
func (a *API) verifyAudit(c *fiber.Ctx) error {
	p := principalOf(c)
	ctx := c.UserContext()
	var witness store.AuditHead
	seqArg, hashArg := c.Query("witness_seq"), strings.ToLower(c.Query("witness_hash"))
	if seqArg != "" || hashArg != "" {
		seq, err := strconv.ParseInt(seqArg, 10, 64)
		if err != nil || seq < 1 || !isHexHash(hashArg) {
			return fail(c, fiber.StatusBadRequest, CodeBadRequest, "Pass both witness_seq (the head_seq of an earlier verification, ≥ 1) and witness_hash (its head_hash, 64 hex digits), or neither.")
		}
		witness = store.AuditHead{Seq: seq, Hash: hashArg}
	}
	head, err := a.cfg.Store.VerifyAuditChain(ctx, p.OrgID, witness)
	out := verifyView{OK: err == nil, Entries: head.Seq, HeadSeq: head.Seq, HeadHash: head.Hash, Witness: witnessNone}
	if witness.Seq != 0 {
		out.Witness = witnessOK
	}
	var ce *store.ChainError
	switch {
	case errors.As(err, &ce):
		a.log.Warn("audit chain broken", "org", p.OrgID, "seq", ce.Seq, "reason", ce.Reason)
		out.BrokenSeq, out.Reason = ce.Seq, ce.Reason
		if witness.Seq != 0 {
			held, err := a.holds(c, p.OrgID, witness)
			if err != nil {
				return a.failErr(c, err)
			}
			if !held {
				out.Witness = witnessMissing
			}
		}
		return c.JSON(out)
	case err != nil:
		return a.failErr(c, err)
	}
	return c.JSON(out)
}

// holds reports whether the stored chain has the witness's entry at its seq (however the rest
// of the chain fares).
func (a *API) holds(c *fiber.Ctx, orgID string, w store.AuditHead) (bool, error) {
	var held bool
	err := a.cfg.Store.Read(c.UserContext(), orgID, func(tx store.Tx) error {
		es, err := tx.Audit(c.UserContext(), w.Seq-1, 1)
		held = err == nil && len(es) == 1 && es[0].Seq == w.Seq && es[0].Hash == w.Hash
		return err
	})
	return held, err
}

func isHexHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
