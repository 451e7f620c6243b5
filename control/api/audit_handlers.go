package api

import (
	"bufio"
	"encoding/json"
	"errors"

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

// exportAudit streams the whole chain as JSON lines, one page per read transaction.
func (a *API) exportAudit(c *fiber.Ctx) error {
	p := principalOf(c)
	ctx := c.UserContext()
	var pages [][]store.AuditEntry
	after := int64(0)
	for {
		var page []store.AuditEntry
		err := a.cfg.Store.Read(ctx, p.OrgID, func(tx store.Tx) error {
			var err error
			page, err = tx.Audit(ctx, after, maxAuditPage)
			return err
		})
		if err != nil {
			return a.failErr(c, err)
		}
		if len(page) == 0 {
			break
		}
		pages = append(pages, page)
		after = page[len(page)-1].Seq
	}
	c.Set(fiber.HeaderContentType, "application/x-ndjson")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="audit.jsonl"`)
	w := bufio.NewWriter(c.Response().BodyWriter())
	enc := json.NewEncoder(w)
	for _, page := range pages {
		for _, e := range page {
			if err := enc.Encode(audit(e)); err != nil {
				return err
			}
		}
	}
	return w.Flush()
}

type verifyView struct {
	OK        bool   `json:"ok"`
	Entries   int64  `json:"entries"`
	BrokenSeq int64  `json:"broken_seq,omitempty"`
	Reason    string `json:"reason,omitempty"`
}

func (a *API) verifyAudit(c *fiber.Ctx) error {
	p := principalOf(c)
	n, err := a.cfg.Store.VerifyAudit(c.UserContext(), p.OrgID)
	var ce *store.ChainError
	switch {
	case errors.As(err, &ce):
		a.log.Warn("audit chain broken", "org", p.OrgID, "seq", ce.Seq, "reason", ce.Reason)
		return c.JSON(verifyView{OK: false, Entries: n, BrokenSeq: ce.Seq, Reason: ce.Reason})
	case err != nil:
		return a.failErr(c, err)
	}
	return c.JSON(verifyView{OK: true, Entries: n})
}
