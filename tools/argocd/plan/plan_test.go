package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const repoURL = "https://github.com/example-org/gitops-mcs.git"

const appSet = `
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: cluster-folders, namespace: argocd}
spec:
  goTemplate: true
  goTemplateOptions: [missingkey=error]
  generators:
  - git:
      repoURL: https://github.com/example-org/gitops-mcs.git
      revision: main
      directories:
      - path: clusters/*
      - path: clusters/cluster-2
        exclude: true
  template:
    metadata: {name: '{{.path.basename}}'}
    spec:
      project: mcs-fleet
      source: {repoURL: 'https://github.com/example-org/gitops-mcs.git', targetRevision: main, path: '{{.path.path}}'}
      destination: {name: '{{.path.basename}}'}
`

const project = `
apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata: {name: mcs-fleet, namespace: argocd}
spec:
  sourceRepos: [https://github.com/example-org/gitops-mcs.git]
  destinations: [{name: cluster-1, namespace: '*'}]
  clusterResourceWhitelist: [{group: '', kind: Namespace}]
`

var folder = []Object{
	{Kind: "Namespace", Name: "istio-apps"},
	{Group: "gateway.networking.k8s.io", Kind: "HTTPRoute", Namespace: "istio-apps", Name: "ui", Namespaced: true},
}

func TestMain(m *testing.M) {
	quiet()
	os.Exit(m.Run())
}

func request(t *testing.T, edit func(*Input)) *Input {
	t.Helper()
	in := &Input{
		ApplicationSet: yamlJSON(t, appSet),
		AppProjects:    []json.RawMessage{yamlJSON(t, project)},
		Clusters:       []Cluster{{Name: "cluster-1", Server: "https://127.0.0.1:6443"}},
		Repository: Repository{URL: repoURL, Directories: []string{
			"base", "clusters", "clusters/cluster-1", "clusters/cluster-1/_cluster", "clusters/cluster-2",
			".github/workflows"}},
		Objects: map[string][]Object{"clusters/cluster-1": folder},
	}
	if edit != nil {
		edit(in)
	}
	return in
}

func yamlJSON(t *testing.T, text string) json.RawMessage {
	t.Helper()
	var in Input
	// the request decoder accepts YAML; reuse it through a one-field document
	if err := yamlUnmarshal([]byte("applicationSet:\n"+indent(text)), &in); err != nil {
		t.Fatal(err)
	}
	return in.ApplicationSet
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n  ")
}

func evaluate(t *testing.T, in *Input) *Verdict {
	t.Helper()
	v, err := Evaluate(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestRepositoryShape(t *testing.T) {
	v := evaluate(t, request(t, nil))
	if v.GenerationError != nil {
		t.Fatalf("generation error: %+v", v.GenerationError)
	}
	want := []Application{{Name: "cluster-1", Namespace: "argocd", Project: "mcs-fleet", RepoURL: repoURL,
		TargetRevision: "main", Path: "clusters/cluster-1", Destination: Destination{Name: "cluster-1"},
		Cluster: "cluster-1"}}
	if !reflect.DeepEqual(v.Applications, want) {
		t.Fatalf("applications:\n got %+v\nwant %+v", v.Applications, want)
	}
	if len(v.Refused) != 0 {
		t.Fatalf("refused: %+v", v.Refused)
	}
}

func TestWhitelistRemovedRefusesNamespace(t *testing.T) {
	in := request(t, func(in *Input) {
		in.AppProjects = []json.RawMessage{yamlJSON(t, strings.Replace(project,
			"clusterResourceWhitelist: [{group: '', kind: Namespace}]", "", 1))}
	})
	v := evaluate(t, in)
	want := []Refusal{{Application: "cluster-1", Path: "clusters/cluster-1", Kind: "Namespace", Name: "istio-apps",
		Field: "kind", Message: "resource :Namespace is not permitted in project mcs-fleet"}}
	if !reflect.DeepEqual(v.Refused, want) {
		t.Fatalf("refused:\n got %+v\nwant %+v", v.Refused, want)
	}
}

func TestNamespaceNotPermitted(t *testing.T) {
	narrow := strings.Replace(project, "namespace: '*'", "namespace: other", 1)
	in := request(t, func(in *Input) { in.AppProjects = []json.RawMessage{yamlJSON(t, narrow)} })
	v := evaluate(t, in)
	want := []string{"application destination server 'cluster-1' and namespace '' do not match any of the " +
		"allowed destinations in project 'mcs-fleet'"}
	if !reflect.DeepEqual(v.Applications[0].Conditions, want) || len(v.Refused) != 0 {
		t.Fatalf("the Application itself is refused first: %+v", v)
	}
	in = request(t, func(in *Input) {
		in.AppProjects = []json.RawMessage{yamlJSON(t, narrow)}
		in.ApplicationSet = yamlJSON(t, strings.Replace(appSet, "destination: {name: '{{.path.basename}}'}",
			"destination: {name: '{{.path.basename}}', namespace: other}", 1))
		in.Objects["clusters/cluster-1"] = append(in.Objects["clusters/cluster-1"],
			Object{Kind: "ConfigMap", Name: "defaulted", Namespaced: true})
	})
	v = evaluate(t, in)
	if len(v.Applications[0].Conditions) != 0 || len(v.Refused) != 1 ||
		v.Refused[0].Message != "namespace istio-apps is not permitted in project 'mcs-fleet'" ||
		v.Refused[0].Field != "namespace" || in.Objects["clusters/cluster-1"][v.Refused[0].Index].Namespace != "istio-apps" {
		t.Fatalf("refused: %+v (the ConfigMap without a namespace goes to the destination's, which is permitted)", v)
	}
}

func TestFolderWithoutCluster(t *testing.T) {
	in := request(t, func(in *Input) {
		in.Repository.Directories = append(in.Repository.Directories, "clusters/cluster-3")
	})
	v := evaluate(t, in)
	if len(v.Applications) != 2 || v.Applications[1].Name != "cluster-3" ||
		v.Applications[1].Invalid != "application destination spec is invalid: there are no clusters with this name: cluster-3" {
		t.Fatalf("applications: %+v", v.Applications)
	}
}

func TestSourceNotPermitted(t *testing.T) {
	in := request(t, func(in *Input) {
		in.AppProjects = []json.RawMessage{yamlJSON(t, strings.Replace(project,
			"sourceRepos: [https://github.com/example-org/gitops-mcs.git]", "sourceRepos: [https://example.invalid/x.git]", 1))}
	})
	v := evaluate(t, in)
	got := v.Applications[0].Conditions
	want := []string{"application repo https://github.com/example-org/gitops-mcs.git is not permitted in project 'mcs-fleet'"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("conditions: %q", got)
	}
	if len(v.Refused) != 0 {
		t.Fatalf("an invalid Application is not synced, so nothing is refused: %+v", v.Refused)
	}
}

func TestOtherRepositoryIsAGenerationError(t *testing.T) {
	in := request(t, func(in *Input) { in.Repository.URL = "https://github.com/example-org/other.git" })
	v := evaluate(t, in)
	if v.GenerationError == nil || !strings.Contains(v.GenerationError.Message, "not the repository under test") ||
		len(v.Applications) != 0 {
		t.Fatalf("verdict: %+v", v)
	}
}

func TestMissingProject(t *testing.T) {
	in := request(t, func(in *Input) { in.AppProjects = nil })
	v := evaluate(t, in)
	if v.GenerationError == nil || !strings.Contains(v.GenerationError.Message, "error getting project mcs-fleet") {
		t.Fatalf("verdict: %+v", v)
	}
}

func TestWalkLikeTheRepoServer(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"clusters/cluster-1/ns", "clusters/cluster-2", ".git/objects", "clusters/.hidden"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	repos, err := newLocalRepos(Repository{URL: repoURL, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"clusters", "clusters/cluster-1", "clusters/cluster-1/ns", "clusters/cluster-2"}
	if !reflect.DeepEqual(repos.directories, want) {
		t.Fatalf("walked %q, want %q", repos.directories, want)
	}
	listed, err := newLocalRepos(Repository{URL: repoURL, Directories: []string{
		"clusters/cluster-2", "clusters/cluster-1/ns", "clusters", "clusters/cluster-1", "clusters/.hidden", ".git/objects"}})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(listed.directories, want) {
		t.Fatalf("listed %q, want %q", listed.directories, want)
	}
}

func TestCommandLine(t *testing.T) {
	body, err := json.Marshal(request(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	var out, errs bytes.Buffer
	if code := run(bytes.NewReader(body), &out, &errs); code != 0 {
		t.Fatalf("exit %d: %s", code, errs.String())
	}
	var v Verdict
	if err := json.Unmarshal(out.Bytes(), &v); err != nil || !strings.HasPrefix(v.ArgoCD, "v3.") || len(v.Applications) != 1 {
		t.Fatalf("stdout %s (%v)", out.String(), err)
	}
	for _, bad := range []string{"{", "applicationSet: {}\n", "unknownField: 1\n",
		`{"applicationSet": {"kind": "ApplicationSet", "metadata": {"name": "a", "namespace": "argocd"}}, "repository": {"url": "x", "directories": ["../up"]}}`} {
		out.Reset()
		errs.Reset()
		if code := run(strings.NewReader(bad), &out, &errs); code != 2 || out.Len() != 0 ||
			strings.Count(strings.TrimSpace(errs.String()), "\n") != 0 {
			t.Fatalf("%q: exit %d, stdout %q, stderr %q", bad, code, out.String(), errs.String())
		}
	}
}
