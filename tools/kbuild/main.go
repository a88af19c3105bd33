// kbuild builds many kustomize overlays in one process, with the kustomize API the pinned
// kustomize CLI is built from (sigs.k8s.io/kustomize/api/krusty).
//
// Why: `kustomize build` costs about 0.1 s of CPU per overlay in process start, OpenAPI setup
// and re-reading the bases every overlay shares. Here every overlay is built concurrently in one
// process, and each file is read from disk once.
//
// Protocol: overlay directories on stdin, one per line. For each, in input order, stdout gets
//
//	#kbuild <index> ok <n>\n<n bytes: the YAML `kustomize build` prints>
//	#kbuild <index> error <n>\n<n bytes: the error `kustomize build` prints after "Error: ">
//
// Options match what the repository allows the CLI: load restrictor on (LoadRestrictionsRootOnly),
// no exec or Go plugins, no Helm, no network. Origin and transformer annotations come from the
// kustomization's own buildMetadata, as with the CLI (the caller builds a wrapper for them).
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"regexp"
	"runtime"
	"runtime/debug"
	"sync"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/kustomize/kyaml/openapi"
)

// sourceHash is set at build time (-ldflags -X) to the hash of this program's sources; the
// Python side reads it back with `go version -m` to decide whether the binary is current.
var sourceHash = "unset"

// cachingFS reads each file and answers each directory question once; a base shared by every
// overlay of the fleet is then read from disk once per run. Nothing writes during a build.
type cachingFS struct {
	filesys.FileSystem
	mu     sync.Mutex
	files  map[string]cachedFile
	dirs   map[string]bool
	exists map[string]bool
}

type cachedFile struct {
	data []byte
	err  error
}

func newCachingFS(under filesys.FileSystem) *cachingFS {
	return &cachingFS{FileSystem: under, files: map[string]cachedFile{}, dirs: map[string]bool{},
		exists: map[string]bool{}}
}

func (c *cachingFS) ReadFile(path string) ([]byte, error) {
	c.mu.Lock()
	f, ok := c.files[path]
	c.mu.Unlock()
	if !ok {
		data, err := c.FileSystem.ReadFile(path)
		f = cachedFile{data, err}
		c.mu.Lock()
		c.files[path] = f
		c.mu.Unlock()
	}
	if f.err != nil {
		return nil, f.err
	}
	// Callers own what they get back; a copy keeps one build from changing another's input.
	out := make([]byte, len(f.data))
	copy(out, f.data)
	return out, nil
}

func (c *cachingFS) IsDir(path string) bool {
	c.mu.Lock()
	v, ok := c.dirs[path]
	c.mu.Unlock()
	if !ok {
		v = c.FileSystem.IsDir(path)
		c.mu.Lock()
		c.dirs[path] = v
		c.mu.Unlock()
	}
	return v
}

func (c *cachingFS) Exists(path string) bool {
	c.mu.Lock()
	v, ok := c.exists[path]
	c.mu.Unlock()
	if !ok {
		v = c.FileSystem.Exists(path)
		c.mu.Lock()
		c.exists[path] = v
		c.mu.Unlock()
	}
	return v
}

// The OpenAPI schema is global state in kyaml: a kustomization with an `openapi:` field sets it
// for the whole process. Such builds run alone and reset it afterwards; all others share it.
var (
	schemaLock sync.RWMutex
	openapiKey = regexp.MustCompile(`(?m)^["']?openapi["']?\s*:`)
	kustFiles  = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}
)

func customSchema(fs filesys.FileSystem, dir string) bool {
	for _, name := range kustFiles {
		if data, err := fs.ReadFile(dir + "/" + name); err == nil {
			return openapiKey.Match(data)
		}
	}
	return false
}

func newKustomizer() *krusty.Kustomizer {
	opts := krusty.MakeDefaultOptions()
	opts.Reorder = krusty.ReorderOptionUnspecified // the CLI's default (no --reorder flag)
	opts.LoadRestrictions = types.LoadRestrictionsRootOnly
	opts.PluginConfig = types.DisabledPluginConfig()
	opts.PluginConfig.HelmConfig.Enabled = false
	return krusty.MakeKustomizer(opts)
}

func build(k *krusty.Kustomizer, fs filesys.FileSystem, dir string) (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("kustomize failed unexpectedly: %v", r)
		}
	}()
	if customSchema(fs, dir) {
		schemaLock.Lock()
		defer schemaLock.Unlock()
		defer openapi.ResetOpenAPI()
	} else {
		schemaLock.RLock()
		defer schemaLock.RUnlock()
	}
	m, err := k.Run(fs, dir)
	if err != nil {
		return nil, err
	}
	return m.AsYaml()
}

type result struct {
	out []byte
	err error
}

func main() {
	workers := flag.Int("j", runtime.GOMAXPROCS(0), "overlays built at once")
	version := flag.Bool("version", false, "print the source hash and exit")
	flag.Parse()
	if *version {
		fmt.Println(sourceHash)
		return
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400) // as build.py sets for the CLI: kustomize allocates heavily
	}
	var dirs []string
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 64*1024), 1024*1024)
	for in.Scan() {
		if line := in.Text(); line != "" {
			dirs = append(dirs, line)
		}
	}
	if err := in.Err(); err != nil {
		fmt.Fprintf(os.Stderr, "kbuild: reading the overlay list: %v\n", err)
		os.Exit(2)
	}
	fs := newCachingFS(filesys.MakeFsOnDisk())
	results := make([]chan result, len(dirs))
	for i := range results {
		results[i] = make(chan result, 1)
	}
	jobs := make(chan int)
	if *workers < 1 {
		*workers = 1
	}
	for w := 0; w < *workers; w++ {
		go func() {
			k := newKustomizer() // Run may be called many times; one per worker, never shared
			for i := range jobs {
				out, err := build(k, fs, dirs[i])
				results[i] <- result{out, err}
			}
		}()
	}
	go func() {
		for i := range dirs {
			jobs <- i
		}
		close(jobs)
	}()
	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	for i := range dirs {
		r := <-results[i]
		status, payload := "ok", r.out
		if r.err != nil {
			status, payload = "error", []byte(r.err.Error())
		}
		fmt.Fprintf(w, "#kbuild %d %s %d\n", i, status, len(payload))
		w.Write(payload)
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintf(os.Stderr, "kbuild: writing: %v\n", err)
		os.Exit(2)
	}
}
