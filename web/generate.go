package web

//go:generate go run ./internal/bundle/cmd
