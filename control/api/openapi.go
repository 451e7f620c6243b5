package api

import (
	_ "embed"
	"encoding/json"
	"sort"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// openAPI is the API's OpenAPI 3 document; the relay's TestAPIRoutesMatchOpenAPI keeps it and
// the mounted routes equal.
//
//go:embed openapi.json
var openAPI []byte

func serveOpenAPI(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(openAPI)
}

// Documented lists the document's operations as "METHOD /path" (paths relative to /api/v1,
// parameters as {id}), sorted.
func Documented() []string {
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		return nil
	}
	var out []string
	for p, ops := range doc.Paths {
		for m := range ops {
			out = append(out, strings.ToUpper(m)+" "+p)
		}
	}
	sort.Strings(out)
	return out
}
