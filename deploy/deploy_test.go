// Package deploy_test checks the deployment files without a container
// engine or a cluster: every kustomization renders and each object decodes
// strictly (unknown fields fail) into the Kubernetes API types, KEDA's
// ScaledObject into a local copy of its schema, and the compose file loads
// with the compose-spec parser (which validates against the schema).
package deploy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/nftsync/nftsync/jobs"
)

// scaledObject is the part of KEDA's ScaledObject (keda.sh/v1alpha1) we use,
// after https://keda.sh/docs/2.16/reference/scaledobject-spec/ and the
// PostgreSQL scaler's metadata (https://keda.sh/docs/2.16/scalers/postgresql/).
type scaledObject struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string            `json:"name"`
		Namespace string            `json:"namespace"`
		Labels    map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		ScaleTargetRef struct {
			Name string `json:"name"`
		} `json:"scaleTargetRef"`
		MinReplicaCount *int32 `json:"minReplicaCount"`
		MaxReplicaCount *int32 `json:"maxReplicaCount"`
		PollingInterval int32  `json:"pollingInterval"`
		CooldownPeriod  int32  `json:"cooldownPeriod"`
		Triggers        []struct {
			Type     string `json:"type"`
			Name     string `json:"name"`
			Metadata struct {
				ConnectionFromEnv          string `json:"connectionFromEnv"`
				Query                      string `json:"query"`
				TargetQueryValue           string `json:"targetQueryValue"`
				ActivationTargetQueryValue string `json:"activationTargetQueryValue"`
			} `json:"metadata"`
		} `json:"triggers"`
	} `json:"spec"`
}

// rendered is one kustomization's output, decoded.
type rendered struct {
	deployments map[string]*appsv1.Deployment
	jobs        map[string]*batchv1.Job
	configMaps  map[string]*corev1.ConfigMap
	secrets     map[string]*corev1.Secret
	services    map[string]*corev1.Service
	pdbs        map[string]*policyv1.PodDisruptionBudget
	scaled      map[string]*scaledObject
}

func strictJSON(t *testing.T, data []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(v), "strict decode %T:\n%s", v, data)
}

func render(t *testing.T, dir string) *rendered {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), dir)
	require.NoError(t, err, "kustomize build %s", dir)
	r := &rendered{
		deployments: map[string]*appsv1.Deployment{}, jobs: map[string]*batchv1.Job{},
		configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{},
		services: map[string]*corev1.Service{}, pdbs: map[string]*policyv1.PodDisruptionBudget{},
		scaled: map[string]*scaledObject{},
	}
	for _, res := range rm.Resources() {
		y, err := res.AsYAML()
		require.NoError(t, err)
		j, err := yaml.YAMLToJSON(y)
		require.NoError(t, err)
		gvk := res.GetGvk()
		name := res.GetName()
		switch gvk.ApiVersion() + "/" + gvk.Kind {
		case "apps/v1/Deployment":
			var o appsv1.Deployment
			strictJSON(t, j, &o)
			r.deployments[name] = &o
		case "batch/v1/Job":
			var o batchv1.Job
			strictJSON(t, j, &o)
			r.jobs[name] = &o
		case "v1/ConfigMap":
			var o corev1.ConfigMap
			strictJSON(t, j, &o)
			r.configMaps[name] = &o
		case "v1/Secret":
			var o corev1.Secret
			strictJSON(t, j, &o)
			r.secrets[name] = &o
		case "v1/Service":
			var o corev1.Service
			strictJSON(t, j, &o)
			r.services[name] = &o
		case "policy/v1/PodDisruptionBudget":
			var o policyv1.PodDisruptionBudget
			strictJSON(t, j, &o)
			r.pdbs[name] = &o
		case "keda.sh/v1alpha1/ScaledObject":
			var o scaledObject
			strictJSON(t, j, &o)
			r.scaled[name] = &o
		default:
			t.Fatalf("%s: unexpected object %s %s", dir, gvk, name)
		}
	}
	return r
}

func (r *rendered) podSpecs() map[string]*corev1.PodSpec {
	out := map[string]*corev1.PodSpec{}
	for n, d := range r.deployments {
		out["Deployment/"+n] = &d.Spec.Template.Spec
	}
	for n, j := range r.jobs {
		out["Job/"+n] = &j.Spec.Template.Spec
	}
	return out
}

func TestKustomize(t *testing.T) {
	t.Parallel()
	for _, dir := range []string{"k8s/base", "k8s/overlays/dev", "k8s/overlays/prod"} {
		t.Run(dir, func(t *testing.T) {
			t.Parallel()
			r := render(t, dir)
			checkCommon(t, r)
			switch dir {
			case "k8s/overlays/dev":
				require.Contains(t, r.secrets, "nftsync")
				require.Contains(t, r.jobs, "nftsync-track-sim")
				require.Equal(t, "http://nftsync-sim:8081", r.configMaps["nftsync-config"].Data["NFTSYNC_OPENSEA_URL"])
				require.Equal(t, "8081", fmt.Sprint(r.services["nftsync-sim"].Spec.Ports[0].Port))
				require.Equal(t, int32(3), *r.deployments["nftsync-worker"].Spec.Replicas)
			case "k8s/overlays/prod":
				require.NotContains(t, r.secrets, "nftsync", "prod secrets never live in git")
				require.Nil(t, r.deployments["nftsync-worker"].Spec.Replicas, "KEDA owns the worker replica count")
				checkScaledObject(t, r)
				for _, ps := range r.podSpecs() {
					for _, c := range ps.Containers {
						require.True(t, strings.HasPrefix(c.Image, "registry.example.com/nftsync:"), c.Image)
					}
				}
			}
		})
	}
}

// checkCommon holds for every rendering: pinned images pulled only when
// missing, workers with probes and resources, a grace period longer than the
// soft stop, a PDB matching the workers, and a Service matching the api.
func checkCommon(t *testing.T, r *rendered) {
	t.Helper()
	for name, ps := range r.podSpecs() {
		for _, c := range append(ps.InitContainers, ps.Containers...) {
			require.Equal(t, corev1.PullIfNotPresent, c.ImagePullPolicy, "%s/%s", name, c.Name)
			require.NotContains(t, c.Image, ":latest", "%s/%s", name, c.Name)
			require.Contains(t, c.Image, ":", "%s/%s: image tag pinned", name, c.Name)
			require.NotNil(t, c.Resources.Requests.Memory(), "%s/%s", name, c.Name)
			require.False(t, c.Resources.Limits.Memory().IsZero(), "%s/%s: memory limit", name, c.Name)
		}
	}

	cm := r.configMaps["nftsync-config"]
	require.NotNil(t, cm)
	softStop, err := time.ParseDuration(cm.Data["NFTSYNC_SOFT_STOP_TIMEOUT"])
	require.NoError(t, err)

	w := r.deployments["nftsync-worker"]
	require.NotNil(t, w)
	ps := w.Spec.Template.Spec
	require.NotNil(t, ps.TerminationGracePeriodSeconds)
	// runRiver waits SoftStopTimeout + 10 s for Stop; the kubelet must not
	// kill the pod before that.
	require.Greater(t, time.Duration(*ps.TerminationGracePeriodSeconds)*time.Second, softStop+10*time.Second)
	require.Len(t, ps.Containers, 1)
	c := ps.Containers[0]
	require.Equal(t, []string{"worker"}, c.Args)
	for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
		require.NotNil(t, p)
		require.NotNil(t, p.HTTPGet)
		require.Equal(t, "metrics", p.HTTPGet.Port.String())
	}
	require.Equal(t, "/readyz", c.ReadinessProbe.HTTPGet.Path)
	require.Equal(t, "/healthz", c.LivenessProbe.HTTPGet.Path)
	require.Equal(t, int32(9090), c.Ports[0].ContainerPort)
	require.Equal(t, ":9090", cm.Data["NFTSYNC_METRICS_ADDR"])
	var idFromPod bool
	for _, e := range c.Env {
		idFromPod = idFromPod || (e.Name == "NFTSYNC_WORKER_ID" && e.ValueFrom != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name")
	}
	require.True(t, idFromPod, "each replica's River client ID is its pod name")

	pdb := r.pdbs["nftsync-worker"]
	require.NotNil(t, pdb)
	require.Equal(t, w.Spec.Selector.MatchLabels, pdb.Spec.Selector.MatchLabels)
	require.Equal(t, w.Spec.Selector.MatchLabels, w.Spec.Template.Labels)

	m := r.jobs["nftsync-migrate"]
	require.NotNil(t, m)
	require.Equal(t, []string{"migrate"}, m.Spec.Template.Spec.Containers[0].Args)

	api := r.deployments["nftsync-api"]
	require.NotNil(t, api)
	svc := r.services["nftsync-api"]
	require.NotNil(t, svc)
	require.Equal(t, api.Spec.Template.Labels["app.kubernetes.io/name"], svc.Spec.Selector["app.kubernetes.io/name"])
}

func checkScaledObject(t *testing.T, r *rendered) {
	t.Helper()
	so := r.scaled["nftsync-worker"]
	require.NotNil(t, so)
	require.Contains(t, r.deployments, so.Spec.ScaleTargetRef.Name)
	require.GreaterOrEqual(t, *so.Spec.MinReplicaCount, int32(1), "a leader must always run")
	require.Greater(t, *so.Spec.MaxReplicaCount, *so.Spec.MinReplicaCount)
	queues := map[string]bool{}
	for _, tr := range so.Spec.Triggers {
		require.Equal(t, "postgresql", tr.Type)
		require.Equal(t, "DATABASE_URL", tr.Metadata.ConnectionFromEnv)
		require.Contains(t, tr.Metadata.Query, "FROM river_job")
		require.Contains(t, tr.Metadata.Query, "state = 'available'")
		q := strings.SplitN(strings.SplitN(tr.Metadata.Query, "queue = '", 2)[1], "'", 2)[0]
		queues[q] = true
		require.NotEmpty(t, tr.Metadata.TargetQueryValue)
	}
	// Every queue workers serve scales, but the leader's own (planning,
	// maintenance).
	for q := range jobs.DefaultMaxWorkers() {
		if q != jobs.QueuePlanner && q != jobs.QueueMaintenance {
			require.True(t, queues[q], "no trigger for queue %s", q)
		}
	}
	checkQueriesRun(t, so)
}

func TestSecretExample(t *testing.T) {
	t.Parallel()
	y, err := os.ReadFile("k8s/base/secret.example.yaml")
	require.NoError(t, err)
	j, err := yaml.YAMLToJSON(y)
	require.NoError(t, err)
	var s corev1.Secret
	strictJSON(t, j, &s)
	require.Equal(t, "nftsync", s.Name)
	require.Contains(t, s.StringData, "DATABASE_URL")
}

func TestCompose(t *testing.T) {
	t.Parallel()
	opts, err := cli.NewProjectOptions([]string{"compose.yaml"},
		cli.WithWorkingDirectory("."), cli.WithProfiles([]string{"sim"}),
		cli.WithEnv([]string{}), cli.WithName("nftsync"))
	require.NoError(t, err)
	p, err := opts.LoadProject(context.Background())
	require.NoError(t, err)

	for _, name := range []string{"postgres", "migrate", "api", "worker", "sim", "track-sim"} {
		_, err := p.GetService(name)
		require.NoError(t, err, "service %s", name)
	}
	w, _ := p.GetService("worker")
	require.NotNil(t, w.Deploy)
	require.Equal(t, 3, *w.Deploy.Replicas)
	require.Equal(t, "service_completed_successfully", w.DependsOn["migrate"].Condition)
	require.Equal(t, "http://sim:8081", *w.Environment["NFTSYNC_OPENSEA_URL"])
	require.Greater(t, time.Duration(*w.StopGracePeriod), 35*time.Second)

	m, _ := p.GetService("migrate")
	require.Equal(t, []string{"migrate"}, []string(m.Command))
	require.Equal(t, "service_healthy", m.DependsOn["postgres"].Condition)
	require.Equal(t, filepath.Join("deploy", "Dockerfile"), filepath.Clean(m.Build.Dockerfile))

	tr, _ := p.GetService("track-sim")
	require.Equal(t, []string{"sim"}, tr.Profiles)
	require.Equal(t, "service_completed_successfully", tr.DependsOn["migrate"].Condition)

	// Without the profile the simulator and its tracking step stay off.
	opts, err = cli.NewProjectOptions([]string{"compose.yaml"}, cli.WithWorkingDirectory("."),
		cli.WithEnv([]string{"NFTSYNC_OPENSEA_URL=https://api.opensea.io"}), cli.WithName("nftsync"))
	require.NoError(t, err)
	p, err = opts.LoadProject(context.Background())
	require.NoError(t, err)
	_, err = p.GetService("sim")
	require.Error(t, err)
	w, _ = p.GetService("worker")
	require.Equal(t, "https://api.opensea.io", *w.Environment["NFTSYNC_OPENSEA_URL"])
}

// TestDockerfile checks the parts of the image recipe the manifests rely on:
// a static build of cmd/nftsync, a non-root runtime, and a build context
// that keeps what the build needs.
func TestDockerfile(t *testing.T) {
	t.Parallel()
	df, err := os.ReadFile("Dockerfile")
	require.NoError(t, err)
	s := string(df)
	require.Contains(t, s, "CGO_ENABLED=0 go build")
	require.Contains(t, s, "./cmd/nftsync")
	require.Contains(t, s, "USER 65532:65532")
	require.Equal(t, 2, strings.Count(s, "\nFROM "), "multi-stage: build and runtime")

	ign, err := os.ReadFile("../.dockerignore")
	require.NoError(t, err)
	for _, line := range strings.Split(string(ign), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		for _, needed := range []string{"go.mod", "go.sum", "cmd", "migrations", "jobs", "db", "internal", "queries"} {
			require.NotEqual(t, needed, line, ".dockerignore drops %s, which the build needs", needed)
		}
	}
}
