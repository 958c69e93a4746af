package main

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"slices"
	"strconv"
	"strings"

	"github.com/osohost/osohost/bench/loadgen"
)

func marshalPub(pub ed25519.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// med, lo and hi are the median, minimum and maximum of v (0 when empty).
func med(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func lo(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	return slices.Min(v)
}

func hi(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	return slices.Max(v)
}

func medInt(v []int64) float64 { return med(ints(v)) }

func ints(v []int64) []float64 {
	f := make([]float64, len(v))
	for i, x := range v {
		f[i] = float64(x)
	}
	return f
}

// Metrics of a load run.
func docsPerSec(r loadgen.Result) float64 { return r.DocsPerSec }
func reqPerSec(r loadgen.Result) float64  { return r.ReqPerSec }
func serverUS(r loadgen.Result) float64   { return float64(r.ServerCPUPerDoc.Nanoseconds()) / 1e3 }
func clientUS(r loadgen.Result) float64   { return float64(r.ClientCPUPerDoc.Nanoseconds()) / 1e3 }
func p50ns(r loadgen.Result) float64      { return float64(r.P50) }
func p90ns(r loadgen.Result) float64      { return float64(r.P90) }
func p99ns(r loadgen.Result) float64      { return float64(r.P99) }
func maxns(r loadgen.Result) float64      { return float64(r.Max) }
func errorsOf(r loadgen.Result) float64   { return float64(r.Errors) }

func values(runs []loadgen.Result, f func(loadgen.Result) float64) []float64 {
	v := make([]float64, len(runs))
	for i, r := range runs {
		v[i] = f(r)
	}
	return v
}

func medRuns(runs []loadgen.Result, f func(loadgen.Result) float64) float64 {
	return med(values(runs, f))
}

// microResult is one Go benchmark: every value it reported, per unit,
// over the -count runs.
type microResult struct {
	Name   string               `json:"name"`
	Values map[string][]float64 `json:"values"`
	Units  []string             `json:"units"` // in the order the benchmark reports them
}

// parseBench reads `go test -bench` output. The -N suffix of GOMAXPROCS
// is dropped from names.
func parseBench(out string) []microResult {
	var res []microResult
	idx := map[string]int{}
	for l := range strings.SplitSeq(out, "\n") {
		f := strings.Fields(l)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		name := f[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		i, ok := idx[name]
		if !ok {
			i = len(res)
			idx[name] = i
			res = append(res, microResult{Name: name, Values: map[string][]float64{}})
		}
		for j := 2; j+1 < len(f); j += 2 {
			v, err := strconv.ParseFloat(f[j], 64)
			if err != nil {
				continue
			}
			unit := f[j+1]
			if _, seen := res[i].Values[unit]; !seen {
				res[i].Units = append(res[i].Units, unit)
			}
			res[i].Values[unit] = append(res[i].Values[unit], v)
		}
	}
	return res
}

// find returns the micro benchmark named name, if it ran.
func findMicro(r *results, name string) (microResult, bool) {
	for _, m := range r.Micro {
		if m.Name == name {
			return m, true
		}
	}
	return microResult{}, false
}
