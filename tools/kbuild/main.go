// kbuild builds many kustomize overlays in one process, with the kustomize API the pinned kustomize
// CLI is built from (sigs.k8s.io/kustomize/api/krusty; go.mod pins every module at the CLI's version).
//
// Why: `kustomize build` pays process start and kustomize's set-up once per overlay, reads every
// shared base again, and turns each object into YAML through a JSON round trip that is a quarter
// of its CPU. In a fleet most objects are the same in every cluster. Here the overlays are built
// concurrently, each file is read from disk once, and each distinct object is turned into YAML once.
// The bytes are the CLI's: the same library calls, and Resource.AsYAML memoised on the object's content.
//
// Protocol: overlay directories on stdin, one per line. For each, in input order and as soon as it
// is built, stdout gets
//
//	#kbuild <index> ok <n>\n<n bytes: what `kustomize build` prints>
//	#kbuild <index> error <n>\n<n bytes: what `kustomize build` prints after "Error: ">
//
// Options are the CLI's as the repository runs it: load restrictor on (LoadRestrictionsRootOnly), no
// exec, Go or Helm plugins, no network. A kustomization's `openapi:` field sets a process-wide schema
// in kyaml, so the caller sends only overlays whose tree has none (the CLI builds the others).
package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"flag"
	"fmt"
	"hash"
	"os"
	"runtime"
	"runtime/debug"
	"sync"

	"go.yaml.in/yaml/v3"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// sourceHash is set at build time (-ldflags -X) to the hash of this program's sources; the Python
// side reads it back with -version to decide whether the binary is current.
var sourceHash = "unset"

// cachingFS reads each file and answers each directory question once: a base shared by every
// overlay of the fleet is read from disk once per run. Nothing writes during a build.
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
	return bytes.Clone(f.data), nil
}

func (c *cachingFS) IsDir(path string) bool {
	return c.memo(c.dirs, path, c.FileSystem.IsDir)
}

func (c *cachingFS) Exists(path string) bool {
	return c.memo(c.exists, path, c.FileSystem.Exists)
}

func (c *cachingFS) memo(m map[string]bool, path string, ask func(string) bool) bool {
	c.mu.Lock()
	v, ok := m[path]
	c.mu.Unlock()
	if !ok {
		v = ask(path)
		c.mu.Lock()
		m[path] = v
		c.mu.Unlock()
	}
	return v
}

// yamlMemo holds Resource.AsYAML's answer per object content (the sha256 of its node tree).
type yamlMemo struct{ m sync.Map }

// treeHash feeds everything AsYAML reads of a node tree into h: kind, style, tag, value, children.
func treeHash(n *yaml.Node, h hash.Hash, buf []byte) []byte {
	if n == nil {
		h.Write([]byte{0xff})
		return buf
	}
	buf = binary.AppendUvarint(buf[:0], uint64(n.Kind))
	buf = binary.AppendUvarint(buf, uint64(n.Style))
	buf = binary.AppendUvarint(buf, uint64(len(n.Tag)))
	buf = append(buf, n.Tag...)
	buf = binary.AppendUvarint(buf, uint64(len(n.Value)))
	buf = append(buf, n.Value...)
	buf = binary.AppendUvarint(buf, uint64(len(n.Content)))
	h.Write(buf)
	if n.Kind == yaml.AliasNode {
		buf = treeHash(n.Alias, h, buf)
	}
	for _, c := range n.Content {
		buf = treeHash(c, h, buf)
	}
	return buf
}

// asYaml is resmap.ResMap.AsYaml (what the CLI prints): each object's AsYAML, "---\n" between them.
func (y *yamlMemo) asYaml(m resmap.ResMap) ([]byte, error) {
	var out bytes.Buffer
	h := sha256.New()
	var buf []byte
	var key [sha256.Size]byte
	for i, r := range m.Resources() {
		h.Reset()
		buf = treeHash(r.RNode.YNode(), h, buf)
		h.Sum(key[:0])
		text, ok := y.m.Load(key)
		if !ok {
			b, err := r.AsYAML()
			if err != nil {
				return nil, err
			}
			text, _ = y.m.LoadOrStore(key, b)
		}
		if i > 0 {
			out.WriteString("---\n")
		}
		out.Write(text.([]byte))
	}
	return out.Bytes(), nil
}

func newKustomizer() *krusty.Kustomizer {
	opts := krusty.MakeDefaultOptions()
	opts.Reorder = krusty.ReorderOptionUnspecified // the CLI's default (no --reorder flag)
	opts.LoadRestrictions = types.LoadRestrictionsRootOnly
	opts.PluginConfig = types.DisabledPluginConfig()
	opts.PluginConfig.HelmConfig.Enabled = false
	return krusty.MakeKustomizer(opts)
}

func build(k *krusty.Kustomizer, fs filesys.FileSystem, memo *yamlMemo, dir string) (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil { // the CLI would crash; here one overlay fails and the others go on
			out, err = nil, fmt.Errorf("kustomize failed unexpectedly: %v", r)
		}
	}()
	m, err := k.Run(fs, dir)
	if err != nil {
		return nil, err
	}
	return memo.asYaml(m)
}

type result struct {
	out []byte
	err error
}

func readList() ([]string, error) {
	var dirs []string
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 64*1024), 1024*1024)
	for in.Scan() {
		if line := in.Text(); line != "" {
			dirs = append(dirs, line)
		}
	}
	return dirs, in.Err()
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
		debug.SetGCPercent(800) // as build.py runs it: kustomize allocates heavily, the live heap is small
	}
	dirs, err := readList()
	if err != nil {
		fmt.Fprintf(os.Stderr, "kbuild: reading the overlay list: %v\n", err)
		os.Exit(2)
	}
	if *workers < 1 {
		*workers = 1
	}
	fs := newCachingFS(filesys.MakeFsOnDisk())
	memo := &yamlMemo{}
	results := make([]chan result, len(dirs))
	for i := range results {
		results[i] = make(chan result, 1)
	}
	// At most `window` builds are held in memory ahead of the writer (a slow first overlay must not
	// let a thousand finished ones pile up).
	window := make(chan struct{}, 4**workers)
	jobs := make(chan int)
	for w := 0; w < *workers; w++ {
		go func() {
			k := newKustomizer() // one per worker: Run is called many times, never concurrently
			for i := range jobs {
				out, err := build(k, fs, memo, dirs[i])
				results[i] <- result{out, err}
			}
		}()
	}
	go func() {
		for i := range dirs {
			window <- struct{}{}
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
		if err := w.Flush(); err != nil { // each build as soon as it is done: the caller parses while we build
			fmt.Fprintf(os.Stderr, "kbuild: writing: %v\n", err)
			os.Exit(2)
		}
		results[i] = nil
		<-window
	}
}
