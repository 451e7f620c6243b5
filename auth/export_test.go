package auth

import (
	"crypto/ecdsa"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

type ecdsaPrivate = ecdsa.PrivateKey

func jwkExport(k jwk.Key, dst *ecdsaPrivate) error { return jwk.Export(k, dst) }
