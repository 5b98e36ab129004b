// kstatus judges Kubernetes objects the way GitOps tools (Flux, Argo CD, kpt) do, with the real
// sigs.k8s.io/cli-utils kstatus library, so the conditions the schedkit operator writes are
// checked against the library rather than against our reading of it. It reads one object or a
// List as JSON on stdin (`kubectl get -o json`) and prints `<name> <Status> <message>` per object.
// Exit: 0 judged (and, with --expect, all as expected), 1 some object not as expected, 2 bad
// usage or input.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

var known = []status.Status{status.CurrentStatus, status.InProgressStatus, status.FailedStatus,
	status.TerminatingStatus, status.NotFoundStatus, status.UnknownStatus}

func usage() {
	fmt.Fprintf(flag.CommandLine.Output(), `usage: kstatus [--expect STATUS] < object.json
Prints "<name> <Status> <message>" for one object or each item of a List read from stdin.
STATUS is one of %v.
`, known)
	flag.PrintDefaults()
}

func fatal(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "kstatus: "+format+"\n", args...)
	os.Exit(2)
}

// decode goes through apimachinery's JSON scheme rather than encoding/json: kstatus reads
// generations with NestedInt64, which fails on the float64 numbers encoding/json produces.
func decode(data []byte) ([]unstructured.Unstructured, error) {
	obj, err := runtime.Decode(unstructured.UnstructuredJSONScheme, data)
	if err != nil {
		return nil, err
	}
	switch o := obj.(type) {
	case *unstructured.Unstructured:
		return []unstructured.Unstructured{*o}, nil
	case *unstructured.UnstructuredList:
		return o.Items, nil
	}
	return nil, fmt.Errorf("unexpected object type %T", obj)
}

func main() {
	expect := flag.String("expect", "", "exit 1 unless every object has this `STATUS`")
	flag.Usage = usage
	flag.Parse()
	if flag.NArg() > 0 {
		fatal("unexpected argument %q (the object is read from stdin)", flag.Arg(0))
	}
	if *expect != "" && !isKnown(status.Status(*expect)) {
		fatal("--expect %q: not one of %v", *expect, known)
	}

	data, err := io.ReadAll(os.Stdin)
	if err != nil {
		fatal("reading stdin: %v", err)
	}
	objs, err := decode(data)
	if err != nil {
		fatal("stdin is not a Kubernetes object or List in JSON: %v", err)
	}
	// An empty List passing --expect would let a health gate pass on a typo'd name or selector.
	if *expect != "" && len(objs) == 0 {
		fmt.Fprintf(os.Stderr, "kstatus: expected %s, but the input has no objects\n", *expect)
		os.Exit(1)
	}

	var unexpected []string
	for i := range objs {
		u := &objs[i]
		res, err := status.Compute(u)
		if err != nil {
			fatal("%s: %v", u.GetName(), err)
		}
		fmt.Println(strings.TrimSpace(fmt.Sprintf("%s %s %s", u.GetName(), res.Status, res.Message)))
		if *expect != "" && res.Status != status.Status(*expect) {
			unexpected = append(unexpected, fmt.Sprintf("%s is %s", u.GetName(), res.Status))
		}
	}
	if len(unexpected) > 0 {
		fmt.Fprintf(os.Stderr, "kstatus: expected %s, but %s\n", *expect, strings.Join(unexpected, ", "))
		os.Exit(1)
	}
}

func isKnown(s status.Status) bool {
	for _, k := range known {
		if s == k {
			return true
		}
	}
	return false
}
