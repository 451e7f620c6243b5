package api

import (
	_ "embed"

	"github.com/gofiber/fiber/v2"
)

// openAPI is the API's OpenAPI 3 document; TestRoutesMatchOpenAPI keeps it and Routes equal.
//
//go:embed openapi.json
var openAPI []byte

func serveOpenAPI(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(openAPI)
}
