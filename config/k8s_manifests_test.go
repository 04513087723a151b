package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// strictDecode decodes one YAML document the way the API server does with
// fieldValidation=Strict: field names match case-sensitively (encoding/json,
// and so yaml.UnmarshalStrict, would take hostPid for hostPID), and unknown
// or duplicated fields are errors.
func strictDecode(doc []byte, obj any) error {
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	strict, err := json.UnmarshalStrict(js, obj, json.DisallowDuplicateFields, json.DisallowUnknownFields)
	if err != nil {
		return err
	}
	if len(strict) > 0 {
		return fmt.Errorf("%v", strict)
	}
	return nil
}

// decodeManifests decodes every document of every file under k8s/ strictly
// into its Kubernetes API type: an unknown or misspelt field fails.
func decodeManifests(t *testing.T) map[string][]any {
	t.Helper()
	files, err := filepath.Glob("k8s/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests under k8s/: %v", err)
	}
	out := map[string][]any{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range bytes.Split(raw, []byte("\n---\n")) {
			var meta struct{ APIVersion, Kind string }
			if err := yaml.Unmarshal(doc, &meta); err != nil {
				t.Fatalf("%s document %d: %v", f, i, err)
			}
			var obj any
			switch meta.APIVersion + " " + meta.Kind {
			case "apps/v1 DaemonSet":
				obj = &appsv1.DaemonSet{}
			case "apps/v1 StatefulSet":
				obj = &appsv1.StatefulSet{}
			case "v1 Service":
				obj = &corev1.Service{}
			case "v1 ServiceAccount":
				obj = &corev1.ServiceAccount{}
			case "policy/v1 PodDisruptionBudget":
				obj = &policyv1.PodDisruptionBudget{}
			case "rbac.authorization.k8s.io/v1 ClusterRole":
				obj = &rbacv1.ClusterRole{}
			case "rbac.authorization.k8s.io/v1 ClusterRoleBinding":
				obj = &rbacv1.ClusterRoleBinding{}
			default:
				t.Fatalf("%s document %d: kind %q %q has no decoder in this test", f, i, meta.APIVersion, meta.Kind)
			}
			if err := strictDecode(doc, obj); err != nil {
				t.Fatalf("%s document %d (%s): %v", f, i, meta.Kind, err)
			}
			out[meta.Kind] = append(out[meta.Kind], obj)
		}
	}
	return out
}

func TestKubernetesManifestsDecodeStrictly(t *testing.T) {
	objs := decodeManifests(t)
	for _, kind := range []string{"DaemonSet", "StatefulSet", "Service", "PodDisruptionBudget", "ClusterRole", "ClusterRoleBinding", "ServiceAccount"} {
		if len(objs[kind]) == 0 {
			t.Errorf("no %s in config/k8s", kind)
		}
	}
}

func TestAgentDaemonSetHasLeastPrivilege(t *testing.T) {
	ds := decodeManifests(t)["DaemonSet"][0].(*appsv1.DaemonSet)
	pod := ds.Spec.Template.Spec
	if !pod.HostPID {
		t.Error("the agent needs hostPID to see the node's processes")
	}
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("the agent pod must run as a non-root user: %+v", psc)
	}
	for _, c := range pod.Containers {
		sc := c.SecurityContext
		if sc == nil || sc.Capabilities == nil {
			t.Fatalf("container %s: no capabilities", c.Name)
		}
		var add []string
		for _, a := range sc.Capabilities.Add {
			add = append(add, string(a))
		}
		slices.Sort(add)
		if want := []string{"BPF", "DAC_READ_SEARCH", "PERFMON", "SYS_PTRACE"}; !slices.Equal(add, want) {
			t.Errorf("container %s adds %v, want exactly %v", c.Name, add, want)
		}
		if fmt.Sprint(sc.Capabilities.Drop) != "[ALL]" {
			t.Errorf("container %s drops %v, want [ALL]", c.Name, sc.Capabilities.Drop)
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("container %s: root filesystem not read-only", c.Name)
		}
		if sc.Privileged != nil && *sc.Privileged {
			t.Errorf("container %s is privileged", c.Name)
		}
	}
}

func TestGatewayTierManifests(t *testing.T) {
	objs := decodeManifests(t)
	sts := objs["StatefulSet"][0].(*appsv1.StatefulSet)
	var headless *corev1.Service
	for _, o := range objs["Service"] {
		if s := o.(*corev1.Service); s.Name == sts.Spec.ServiceName {
			headless = s
		}
	}
	if headless == nil || headless.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Fatalf("the gateways' Service %q must exist and be headless (for the dns/k8s resolver)", sts.Spec.ServiceName)
	}
	for k, v := range headless.Spec.Selector {
		if sts.Spec.Template.Labels[k] != v {
			t.Errorf("Service selector %s=%s does not select the gateway pods", k, v)
		}
	}
	pdb := objs["PodDisruptionBudget"][0].(*policyv1.PodDisruptionBudget)
	for k, v := range pdb.Spec.Selector.MatchLabels {
		if sts.Spec.Template.Labels[k] != v {
			t.Errorf("PodDisruptionBudget selector %s=%s does not select the gateway pods", k, v)
		}
	}
	if pdb.Spec.MaxUnavailable == nil && pdb.Spec.MinAvailable == nil {
		t.Error("PodDisruptionBudget without a bound")
	}
}

// A misspelt field is an error, not a silently ignored key.
func TestStrictDecodeCatchesTypos(t *testing.T) {
	head := "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: x}\nspec:\n  template:\n    spec:\n"
	for name, body := range map[string]string{
		"wrong case":     "      hostPid: true\n",
		"unknown field":  "      hostPIDs: true\n",
		"duplicated key": "      hostPID: true\n      hostPID: false\n",
	} {
		if err := strictDecode([]byte(head+body), &appsv1.DaemonSet{}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := strictDecode([]byte(head+"      hostPID: true\n"), &appsv1.DaemonSet{}); err != nil {
		t.Errorf("the correct spelling: %v", err)
	}
}
