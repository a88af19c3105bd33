package main

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	log "github.com/sirupsen/logrus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	kubefake "k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlfake "sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/yaml"

	"github.com/argoproj/argo-cd/v3/applicationset/controllers/template"
	"github.com/argoproj/argo-cd/v3/applicationset/generators"
	"github.com/argoproj/argo-cd/v3/applicationset/utils"
	"github.com/argoproj/argo-cd/v3/common"
	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	argoutil "github.com/argoproj/argo-cd/v3/util/argo"
	"github.com/argoproj/argo-cd/v3/util/db"
	"github.com/argoproj/argo-cd/v3/util/settings"
)

// argoCDModule is the module whose code this program runs; its version (tools/argocd/go.mod) is
// reported in every verdict, read from the build information so that it cannot drift.
const argoCDModule = "github.com/argoproj/argo-cd/v3"

func argoCDVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == argoCDModule {
				if dep.Replace != nil {
					return dep.Replace.Version
				}
				return dep.Version
			}
		}
	}
	return "unknown"
}

// Evaluate runs Argo CD's generators, template rendering and AppProject checks on one request.
func Evaluate(ctx context.Context, in *Input) (*Verdict, error) {
	appSet, projects, err := decode(in)
	if err != nil {
		return nil, err
	}
	namespace := appSet.Namespace
	repos, err := newLocalRepos(in.Repository)
	if err != nil {
		return nil, err
	}
	secrets, err := clusterSecrets(in.Clusters, namespace)
	if err != nil {
		return nil, err
	}

	// Argo CD's settings and cluster database, over a fake API holding argocd-cm and the cluster Secrets:
	// clusters resolve by name and server exactly as in the controllers (util/db).
	kubeObjects := []runtime.Object{argocdConfigMap(namespace, in.ArgoCDConfig)}
	for _, s := range secrets {
		kubeObjects = append(kubeObjects, s)
	}
	clientset := kubefake.NewClientset(kubeObjects...)
	argoDB := db.NewDB(namespace, settings.NewSettingsManager(ctx, clientset, namespace), clientset)

	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := corev1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	builder := ctrlfake.NewClientBuilder().WithScheme(scheme)
	for i := range projects {
		builder = builder.WithObjects(&projects[i])
	}
	for _, s := range secrets {
		builder = builder.WithObjects(s)
	}
	kube := builder.Build()

	verdict := &Verdict{ArgoCD: argoCDVersion(), Source: sourceHash, Applications: []Application{}, Refused: []Refusal{}}
	apps, reason, genErr := template.GenerateApplications(log.NewEntry(log.StandardLogger()), *appSet,
		offlineGenerators(ctx, kube, clientset, namespace, repos), &utils.Render{}, kube)
	if genErr != nil {
		verdict.GenerationError = &Problem{Reason: string(reason), Message: genErr.Error()}
	}
	seen := map[string]bool{}
	for i := range apps {
		app := &apps[i]
		out, project, dest := judge(ctx, app, seen, appSet.Name, kube, namespace, argoDB)
		verdict.Applications = append(verdict.Applications, out)
		if project == nil || dest == nil {
			continue
		}
		refused, err := refusals(ctx, app, project, dest, in.Objects[app.Spec.GetSource().Path], argoDB)
		if err != nil {
			return nil, err
		}
		verdict.Refused = append(verdict.Refused, refused...)
	}
	return verdict, nil
}

func decode(in *Input) (*v1alpha1.ApplicationSet, []v1alpha1.AppProject, error) {
	if len(in.ApplicationSet) == 0 {
		return nil, nil, badInput("applicationSet is missing")
	}
	appSet := &v1alpha1.ApplicationSet{}
	if err := yaml.Unmarshal(in.ApplicationSet, appSet); err != nil {
		return nil, nil, badInput("applicationSet: %v", err)
	}
	if appSet.Kind != "ApplicationSet" || appSet.Name == "" || appSet.Namespace == "" {
		return nil, nil, badInput("applicationSet: not an ApplicationSet with metadata.name and metadata.namespace")
	}
	projects := make([]v1alpha1.AppProject, 0, len(in.AppProjects))
	for i, raw := range in.AppProjects {
		var p v1alpha1.AppProject
		if err := yaml.Unmarshal(raw, &p); err != nil {
			return nil, nil, badInput("appProjects[%d]: %v", i, err)
		}
		if p.Kind != "AppProject" || p.Name == "" {
			return nil, nil, badInput("appProjects[%d]: not an AppProject with metadata.name", i)
		}
		if p.Namespace == "" {
			p.Namespace = appSet.Namespace
		}
		projects = append(projects, p)
	}
	return appSet, projects, nil
}

// clusterSecrets are the Secrets `gitops sync` registers (argocd.argoproj.io/secret-type: cluster).
func clusterSecrets(clusters []Cluster, namespace string) ([]*corev1.Secret, error) {
	out := make([]*corev1.Secret, 0, len(clusters))
	for i, c := range clusters {
		if c.Name == "" || c.Server == "" {
			return nil, badInput("clusters[%d]: name and server are required", i)
		}
		s := &corev1.Secret{}
		s.Name = fmt.Sprintf("cluster-%d", i)
		s.Namespace = namespace
		s.Labels = map[string]string{common.LabelKeySecretType: common.LabelValueSecretTypeCluster}
		s.Data = map[string][]byte{"name": []byte(c.Name), "server": []byte(c.Server), "config": []byte("{}")}
		if len(c.Namespaces) > 0 {
			s.Data["namespaces"] = []byte(strings.Join(c.Namespaces, ","))
		}
		if c.Project != "" {
			s.Data["project"] = []byte(c.Project)
		}
		out = append(out, s)
	}
	return out, nil
}

func argocdConfigMap(namespace string, data map[string]string) *corev1.ConfigMap {
	cm := &corev1.ConfigMap{}
	cm.Name = common.ArgoCDConfigMapName
	cm.Namespace = namespace
	cm.Labels = map[string]string{"app.kubernetes.io/part-of": "argocd"}
	cm.Data = data
	return cm
}

// unsupported stands for a generator that needs something outside the repository (an SCM API, a duck-typed
// resource, a plugin service): the evaluation reports it instead of guessing.
type unsupported struct{ name string }

func (u unsupported) GenerateParams(*v1alpha1.ApplicationSetGenerator, *v1alpha1.ApplicationSet, client.Client) ([]map[string]any, error) {
	return nil, fmt.Errorf("the %s generator is not evaluated offline", u.name)
}

func (u unsupported) GetRequeueAfter(*v1alpha1.ApplicationSetGenerator) time.Duration {
	return generators.NoRequeueAfter
}

func (u unsupported) GetTemplate(*v1alpha1.ApplicationSetGenerator) *v1alpha1.ApplicationSetTemplate {
	return &v1alpha1.ApplicationSetTemplate{}
}

// offlineGenerators is generators.GetGenerators with the git generator reading the repository under test,
// the list and cluster generators as they are, and those needing a network reported.
func offlineGenerators(ctx context.Context, kube client.Client, clientset *kubefake.Clientset, namespace string,
	repos *localRepos,
) map[string]generators.Generator {
	terminal := map[string]generators.Generator{
		"List":                    generators.NewListGenerator(),
		"Clusters":                generators.NewClusterGenerator(ctx, kube, clientset, namespace),
		"Git":                     generators.NewGitGenerator(repos, namespace),
		"SCMProvider":             unsupported{"SCMProvider"},
		"ClusterDecisionResource": unsupported{"ClusterDecisionResource"},
		"PullRequest":             unsupported{"PullRequest"},
		"Plugin":                  unsupported{"Plugin"},
	}
	nested := map[string]generators.Generator{}
	top := map[string]generators.Generator{}
	for k, v := range terminal {
		nested[k], top[k] = v, v
	}
	nested["Matrix"], nested["Merge"] = generators.NewMatrixGenerator(terminal), generators.NewMergeGenerator(terminal)
	top["Matrix"], top["Merge"] = generators.NewMatrixGenerator(nested), generators.NewMergeGenerator(nested)
	return top
}

// judge is what the applicationset-controller's validateGeneratedApplications and the
// application-controller's ValidatePermissions say of one generated Application. The two messages
// of the former are its own (applicationset/controllers/applicationset_controller.go, v3.2.11): that
// function is a method of the reconciler; its cluster lookup is Argo CD's (argoutil.GetDestinationCluster).
func judge(ctx context.Context, app *v1alpha1.Application, seen map[string]bool, appSetName string, kube client.Client,
	namespace string, argoDB db.ArgoDB,
) (Application, *v1alpha1.AppProject, *v1alpha1.Cluster) {
	src := app.Spec.GetSource()
	out := Application{
		Name: app.Name, Namespace: app.Namespace, Project: app.Spec.Project, RepoURL: src.RepoURL,
		TargetRevision: src.TargetRevision, Path: src.Path,
		Destination: Destination{Name: app.Spec.Destination.Name, Server: app.Spec.Destination.Server,
			Namespace: app.Spec.Destination.Namespace},
		Labels: app.Labels, Annotations: app.Annotations, Finalizers: app.Finalizers,
	}
	if app.Spec.SyncPolicy != nil {
		out.SyncOptions = append([]string(nil), app.Spec.SyncPolicy.SyncOptions...)
	}
	if seen[app.Name] {
		out.Invalid = fmt.Sprintf("ApplicationSet %s contains applications with duplicate name: %s", appSetName, app.Name)
		return out, nil, nil
	}
	seen[app.Name] = true
	project := &v1alpha1.AppProject{}
	if err := kube.Get(ctx, types.NamespacedName{Name: app.Spec.Project, Namespace: namespace}, project); err != nil {
		if apierrors.IsNotFound(err) {
			out.Invalid = fmt.Sprintf("application references project %s which does not exist", app.Spec.Project)
		} else {
			out.Invalid = err.Error()
		}
		return out, nil, nil
	}
	dest, err := argoutil.GetDestinationCluster(ctx, app.Spec.Destination, argoDB)
	if err != nil {
		out.Invalid = fmt.Sprintf("application destination spec is invalid: %s", err.Error())
		return out, nil, nil
	}
	out.Cluster = dest.Name
	conditions, err := argoutil.ValidatePermissions(ctx, &app.Spec, project, argoDB)
	if err != nil {
		out.Conditions = append(out.Conditions, err.Error())
	}
	for _, c := range conditions {
		out.Conditions = append(out.Conditions, c.Message)
	}
	if len(out.Conditions) > 0 {
		return out, nil, nil // the application-controller does not sync an Application with an invalid spec
	}
	return out, project, dest
}

// refusals are the objects the sync operation's permission validator refuses. The checks are the
// AppProject's own methods; the two messages are the validator's (controller/sync.go, v3.2.11: a
// closure there). A namespaced object without a namespace goes to the destination namespace.
func refusals(ctx context.Context, app *v1alpha1.Application, project *v1alpha1.AppProject, dest *v1alpha1.Cluster,
	objects []Object, argoDB db.ArgoDB,
) ([]Refusal, error) {
	var out []Refusal
	projectClusters := func(name string) ([]*v1alpha1.Cluster, error) { return argoDB.GetProjectClusters(ctx, name) }
	for i, o := range objects {
		gk := schema.GroupKind{Group: o.Group, Kind: o.Kind}
		namespace := o.Namespace
		if o.Namespaced && namespace == "" {
			namespace = app.Spec.Destination.Namespace
		}
		message, field := "", "kind"
		if !project.IsGroupKindPermitted(gk, o.Namespaced) {
			message = fmt.Sprintf("resource %s:%s is not permitted in project %s", gk.Group, gk.Kind, project.Name)
		} else if o.Namespaced {
			permitted, err := project.IsDestinationPermitted(dest, namespace, projectClusters)
			if err != nil {
				return nil, err
			}
			if !permitted {
				message, field = fmt.Sprintf("namespace %v is not permitted in project '%s'", namespace, project.Name), "namespace"
			}
		}
		if message != "" {
			out = append(out, Refusal{Application: app.Name, Path: app.Spec.GetSource().Path, Index: i, Group: o.Group,
				Kind: o.Kind, Namespace: namespace, Name: o.Name, Field: field, Message: message})
		}
	}
	return out, nil
}
