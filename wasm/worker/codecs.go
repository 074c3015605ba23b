//go:build js && wasm

package main

import "github.com/alexlens/alexlens/wasm/session"

func codecs() session.Codecs { return session.DefaultCodecs() }
