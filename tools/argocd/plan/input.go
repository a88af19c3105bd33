package main

import (
	"encoding/json"
)

// Input is one plan request.
type Input struct {
	// ApplicationSet is the object as committed (bootstrap/argocd/...), JSON or YAML.
	ApplicationSet json.RawMessage `json:"applicationSet"`
	// AppProjects are the AppProject objects of Argo CD's namespace (the ApplicationSet's).
	AppProjects []json.RawMessage `json:"appProjects"`
	// Clusters are the destinations registered with Argo CD, as `gitops sync` registers them (one
	// cluster Secret each); a name Argo CD does not know is "there are no clusters with this name".
	Clusters []Cluster `json:"clusters"`
	// ArgoCDConfig is the data of argocd-cm (optional): e.g. cluster.inClusterEnabled.
	ArgoCDConfig map[string]string `json:"argocdConfig,omitempty"`
	// Repository is the git repository under test, which the git generators read.
	Repository Repository `json:"repository"`
	// Objects are the rendered objects of each folder, keyed by the folder's path in the repository
	// (an Application's spec.source.path), for the AppProject's resource checks.
	Objects map[string][]Object `json:"objects,omitempty"`
}

// Cluster is one cluster Secret's name and server (and optional namespaces / project scope).
type Cluster struct {
	Name       string   `json:"name"`
	Server     string   `json:"server"`
	Namespaces []string `json:"namespaces,omitempty"`
	Project    string   `json:"project,omitempty"`
}

// Repository is what the repo-server would check out: its URL (generators naming another
// repository fail) and either the folders at the revision or a checkout to walk like the repo-server.
type Repository struct {
	URL         string   `json:"url"`
	Directories []string `json:"directories,omitempty"` // repository-relative folders, '/'-separated
	Dir         string   `json:"dir,omitempty"`         // a checkout (walked; hidden folders skipped)
}

// Object is what the AppProject checks of one rendered object.
type Object struct {
	Group      string `json:"group"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
	Namespaced bool   `json:"namespaced"` // the kind's scope as the API server serves it
}

// Verdict is the plan's answer.
type Verdict struct {
	ArgoCD string `json:"argocd"` // the Argo CD module version linked
	// Source is the hash of the sources this program was built from (what -version prints): the caller
	// knows from the answer itself whether it came from the program it meant to run.
	Source string `json:"source"`
	// Applications are those the applicationset-controller would create, in its order.
	Applications []Application `json:"applications"`
	// GenerationError is the error that makes the controller set ErrorOccurred on the ApplicationSet
	// (the first one, as it reports); its Applications are then partial.
	GenerationError *Problem `json:"generationError,omitempty"`
	// Refused are the objects the AppProject refuses, with the message the sync operation would give.
	Refused []Refusal `json:"refused"`
}

// Application is one generated Application and what Argo CD says of it.
type Application struct {
	Name           string      `json:"name"`
	Namespace      string      `json:"namespace"`
	Project        string      `json:"project"`
	RepoURL        string      `json:"repoURL"`
	TargetRevision string      `json:"targetRevision"`
	Path           string      `json:"path"`
	Destination    Destination `json:"destination"`
	// Cluster is the registered cluster the destination resolves to ("" when it does not).
	Cluster string `json:"cluster"`
	// Invalid: the applicationset-controller would not create it (its message).
	Invalid string `json:"invalid,omitempty"`
	// Conditions: what the application-controller reports as InvalidSpecError (source or destination
	// not permitted by the project, unknown cluster).
	Conditions []string `json:"conditions,omitempty"`
	// SyncOptions as generated (ServerSideApply=true and others).
	SyncOptions []string `json:"syncOptions,omitempty"`
	// Labels, Annotations and Finalizers as generated: the labels a RollingSync step selects on, and whether
	// deleting the Application deletes what it synced (the resources finalizer).
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Finalizers  []string          `json:"finalizers,omitempty"`
}

// Destination as generated.
type Destination struct {
	Name      string `json:"name,omitempty"`
	Server    string `json:"server,omitempty"`
	Namespace string `json:"namespace,omitempty"`
}

// Problem is a message with its reason.
type Problem struct {
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// Refusal is one object the AppProject refuses for one Application.
type Refusal struct {
	Application string `json:"application"`
	Path        string `json:"path"`
	// Index is the object's position in the request's objects of Path: which object, exactly.
	Index     int    `json:"index"`
	Group     string `json:"group"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"` // where it would be applied (a namespaced object without one: the destination's)
	Name      string `json:"name"`
	// Field is what the AppProject refuses: "kind" (the group and kind) or "namespace".
	Field   string `json:"field"`
	Message string `json:"message"`
}
