// Command plan evaluates an ApplicationSet and its AppProject with Argo CD's own code, offline: the
// Applications the applicationset-controller would generate from the repository under test, whether
// each is valid (project, destination, source), and which objects of each folder the AppProject refuses.
// It is the cheap tier of `gitops sync` (docs/argocd-sync.md): no cluster, no repo-server, no network.
//
// Input (stdin, JSON or YAML, at most MaxInput bytes): the Input type. Output (stdout): one JSON Verdict.
// Exit 0 when the evaluation ran, whatever it found; 2 on input it cannot evaluate (one line on stderr).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	log "github.com/sirupsen/logrus"
	"k8s.io/klog/v2"
	"sigs.k8s.io/yaml"
)

// MaxInput bounds what is read from stdin; MaxDirectories the folders a repository may list or hold.
const (
	MaxInput       = 64 << 20
	MaxDirectories = 100_000
)

// sourceHash is set at build time (-ldflags -X) to the hash of this program's sources (tools/argocd's go.mod,
// go.sum and this folder); the tooling reads it back with -version to decide whether the binary is current.
var sourceHash = "unset"

func main() {
	if len(os.Args) == 2 && os.Args[1] == "-version" {
		fmt.Println(sourceHash)
		return
	}
	if len(os.Args) > 1 {
		fmt.Fprintln(os.Stderr, "plan: reads one request on stdin and takes no arguments but -version")
		os.Exit(2)
	}
	os.Exit(run(os.Stdin, os.Stdout, os.Stderr))
}

func run(stdin io.Reader, stdout, stderr io.Writer) int {
	quiet()
	raw, err := io.ReadAll(io.LimitReader(stdin, MaxInput+1))
	if err != nil {
		fmt.Fprintf(stderr, "plan: reading stdin: %v\n", err)
		return 2
	}
	if len(raw) > MaxInput {
		fmt.Fprintf(stderr, "plan: the input is larger than %d bytes\n", MaxInput)
		return 2
	}
	var in Input
	if err := yamlUnmarshal(raw, &in); err != nil {
		fmt.Fprintf(stderr, "plan: the input is not a plan request: %v\n", err)
		return 2
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	verdict, err := Evaluate(ctx, &in)
	if err != nil {
		fmt.Fprintf(stderr, "plan: %v\n", err)
		var bad *InputError
		if errors.As(err, &bad) {
			return 2
		}
		return 1
	}
	out, err := json.MarshalIndent(verdict, "", "  ")
	if err != nil {
		fmt.Fprintf(stderr, "plan: %v\n", err)
		return 1
	}
	if _, err := stdout.Write(append(out, '\n')); err != nil {
		return 1
	}
	return 0
}

// quiet keeps stdout for the verdict and stderr for one line: Argo CD logs (logrus) what it also
// returns as errors, and the settings manager's informers log through klog.
func quiet() {
	log.SetOutput(io.Discard)
	log.SetLevel(log.PanicLevel)
	klog.SetOutput(io.Discard)
	klog.LogToStderr(false)
}

// InputError is input the plan cannot evaluate: exit 2.
type InputError struct{ msg string }

func (e *InputError) Error() string { return e.msg }

func badInput(format string, args ...any) error {
	return &InputError{fmt.Sprintf(format, args...)}
}

// yamlUnmarshal is the request decoder (JSON or YAML; unknown fields refused).
func yamlUnmarshal(raw []byte, v any) error { return yaml.UnmarshalStrict(raw, v) }
