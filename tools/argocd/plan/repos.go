package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/argoproj/argo-cd/v3/applicationset/services"
	"github.com/argoproj/argo-cd/v3/util/git"
)

// localRepos is the one piece of the applicationset-controller replaced here: its services.Repos asks
// the repo-server over gRPC; this answers from the repository under test. GetDirectories lists what the
// repo-server's GetGitDirectories lists (reposerver/repository/repository.go, v3.2.11): every folder of
// the checkout but its root, in filepath.WalkDir order, hidden folders and all below them left out.
type localRepos struct {
	url         string
	directories []string
}

var _ services.Repos = (*localRepos)(nil)

func newLocalRepos(repo Repository) (*localRepos, error) {
	if repo.URL == "" {
		return nil, badInput("repository.url is empty")
	}
	var dirs []string
	switch {
	case repo.Dir != "" && repo.Directories != nil:
		return nil, badInput("give repository.dir or repository.directories, not both")
	case repo.Dir != "":
		walked, err := walk(repo.Dir)
		if err != nil {
			return nil, err
		}
		dirs = walked
	default:
		if len(repo.Directories) > MaxDirectories {
			return nil, badInput("repository.directories lists more than %d folders", MaxDirectories)
		}
		for _, d := range repo.Directories {
			clean := path.Clean(strings.TrimSuffix(d, "/"))
			if d == "" || path.IsAbs(d) || clean == "." || clean != strings.TrimSuffix(d, "/") ||
				clean == ".." || strings.HasPrefix(clean, "../") {
				return nil, badInput("repository.directories: %q is not a clean repository-relative folder", d)
			}
			if !hidden(clean) {
				dirs = append(dirs, clean)
			}
		}
		sort.Slice(dirs, func(i, j int) bool { return walkOrder(dirs[i], dirs[j]) })
		dirs = unique(dirs)
	}
	return &localRepos{url: repo.URL, directories: dirs}, nil
}

// hidden: a folder the repo-server skips (its name or a parent's starts with a dot).
func hidden(rel string) bool {
	for _, part := range strings.Split(rel, "/") {
		if strings.HasPrefix(part, ".") {
			return true
		}
	}
	return false
}

// walkOrder is filepath.WalkDir's order: depth first, the entries of a folder by name.
func walkOrder(a, b string) bool {
	pa, pb := strings.Split(a, "/"), strings.Split(b, "/")
	for i := 0; i < len(pa) && i < len(pb); i++ {
		if pa[i] != pb[i] {
			return pa[i] < pb[i]
		}
	}
	return len(pa) < len(pb)
}

func unique(sorted []string) []string {
	out := sorted[:0]
	for i, s := range sorted {
		if i == 0 || s != sorted[i-1] {
			out = append(out, s)
		}
	}
	return out
}

var errTooMany = errors.New("too many folders")

func walk(root string) ([]string, error) {
	var dirs []string
	err := filepath.WalkDir(root, func(p string, entry fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("error walking the file tree: %w", err)
		}
		if !entry.IsDir() { // symbolic links are not followed, as in the repo-server
			return nil
		}
		if strings.HasPrefix(entry.Name(), ".") && p != root {
			return filepath.SkipDir
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		if len(dirs) == MaxDirectories {
			return errTooMany
		}
		dirs = append(dirs, filepath.ToSlash(rel))
		return nil
	})
	if errors.Is(err, errTooMany) {
		return nil, badInput("repository.dir %s holds more than %d folders", root, MaxDirectories)
	}
	if err != nil {
		return nil, badInput("repository.dir: %v", err)
	}
	return dirs, nil
}

func (r *localRepos) check(repoURL string) error {
	if git.NormalizeGitURL(repoURL) != git.NormalizeGitURL(r.url) {
		return fmt.Errorf("the generator reads repository %s, not the repository under test (%s)", repoURL, r.url)
	}
	return nil
}

// GetDirectories answers for the repository under test only.
func (r *localRepos) GetDirectories(_ context.Context, repoURL, _, _ string, _, _ bool) ([]string, error) {
	if err := r.check(repoURL); err != nil {
		return nil, err
	}
	return append([]string(nil), r.directories...), nil
}

// GetFiles is the git files generator's call; its glob semantics (git ls-files pathspecs) are not
// reproduced here, so such a generator is reported instead of guessed.
func (r *localRepos) GetFiles(_ context.Context, repoURL, _, _, pattern string, _, _ bool) (map[string][]byte, error) {
	if err := r.check(repoURL); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("the git files generator (%s) is not evaluated offline; only git directories are", pattern)
}
