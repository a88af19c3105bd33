//go:build tools

// Package tools pins the command this module builds: go build github.com/argoproj/argo-cd/v3/cmd
// (Argo CD's multi-call binary; it runs as the component its file name or ARGOCD_BINARY_NAME names).
package tools

import _ "github.com/argoproj/argo-cd/v3/cmd"
