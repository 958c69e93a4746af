package main

import (
	"errors"
	"testing"

	"github.com/osohost/osohost/abi"
	oso "github.com/osohost/osohost/guest-sdk/go"
)

// The actions that end the process (trap, loop, grow) run only inside the
// host: see chaos_test.go. These tests run the plugin's logic natively.

func TestAction(t *testing.T) {
	tests := []struct {
		name string
		doc  oso.Document
		want string
	}{
		{"content names it", oso.Document{ID: "1", Content: "trap"}, actionTrap},
		{"id names it", oso.Document{ID: "loop", Content: "hello"}, actionLoop},
		{"content wins", oso.Document{ID: "trap", Content: "ok"}, actionOK},
		{"neither", oso.Document{ID: "1", Content: "hello"}, actionOK},
		{"case matters", oso.Document{ID: "1", Content: "TRAP"}, actionOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := action(tt.doc); got != tt.want {
				t.Errorf("action(%+v) = %q, want %q", tt.doc, got, tt.want)
			}
		})
	}
}

func TestParam(t *testing.T) {
	tests := []struct {
		name     string
		metadata string
		want     int
	}{
		{"empty", "", 7},
		{"plain number", "250", 250},
		{"object", `{"ms": 250}`, 250},
		{"first number wins", `{"a": 3, "b": 4}`, 10},
		{"below the bound", "1", 10},
		{"above the bound", "5000", 1000},
		{"too many digits are not read", "99999999999999999999999", 1000},
		{"no digits", `{"ms": "slow"}`, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := param(tt.metadata, 7, 10, 1000); got != tt.want {
				t.Errorf("param(%q) = %d, want %d", tt.metadata, got, tt.want)
			}
		})
	}
}

func documents(t *testing.T, docs ...oso.Document) *oso.Documents {
	t.Helper()
	b := abi.AppendDocumentListHeader(nil, len(docs))
	for _, d := range docs {
		b = abi.AppendDocument(b, d.ID, d.Content, d.Metadata)
	}
	in, err := oso.NewDocuments(b)
	if err != nil {
		t.Fatal(err)
	}
	return &in
}

func TestChaos_ToISV(t *testing.T) {
	c := &chaos{}
	in := documents(t, oso.Document{ID: "a", Content: "hello"}, oso.Document{ID: "b", Content: "slow", Metadata: "1"})
	var out oso.Reply
	if err := c.ToISV(in, &out); err != nil {
		t.Fatal(err)
	}
	kind, b := out.Output()
	got, err := oso.NewDocuments(b)
	if kind != abi.OutputDocumentList || err != nil || got.Len() != 2 {
		t.Fatalf("ok answered kind %d, %d documents, %v", kind, got.Len(), err)
	}

	out = oso.Reply{}
	if err := c.ToISV(documents(t, oso.Document{ID: "a", Content: "badjson"}), &out); err != nil {
		t.Fatal(err)
	}
	if kind, b := out.Output(); kind != abi.OutputJSON || string(b) != `{"chaos": "unterminated` {
		t.Errorf("badjson answered (%d, %q)", kind, b)
	}

	out = oso.Reply{}
	if err := c.ToISV(documents(t, oso.Document{ID: "a", Content: "huge", Metadata: "16"}), &out); err != nil {
		t.Fatal(err)
	}
	if kind, b := out.Output(); kind != abi.OutputJSON || string(b) != `"aaaaaaaaaaaaaa"` {
		t.Errorf("huge answered (%d, %q)", kind, b)
	}

	tests := []struct {
		metadata string
		want     int
	}{{"", 418}, {"503", 503}, {"200", 400}}
	for _, tt := range tests {
		err := c.ToISV(documents(t, oso.Document{ID: "ok"}, oso.Document{ID: "error", Metadata: tt.metadata}), &oso.Reply{})
		var e oso.Error
		if !errors.As(err, &e) || e.Code != tt.want {
			t.Errorf("error with metadata %q: %v, want code %d", tt.metadata, err, tt.want)
		}
	}

	if st, err := c.Status(); err != nil || st.Code != 200 {
		t.Errorf("Status() = %+v, %v", st, err)
	}
	var l oso.DocumentList
	if err := c.ToOSO(&l); err != nil || l.Len() != 0 {
		t.Errorf("ToOSO() = %d documents, %v", l.Len(), err)
	}
}
