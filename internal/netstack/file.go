package netstack

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// ReadNodeSnapshot reads a node snapshot file as `netdiag collect --output` writes it.
func ReadNodeSnapshot(path string) (*NodeSnapshot, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read node snapshot: %w", err)
	}
	snap, err := ParseNodeSnapshot(data)
	if err != nil {
		return nil, fmt.Errorf("node snapshot %s: %w", path, err)
	}
	return snap, nil
}

// DecodeNodeSnapshot reads one node snapshot from r.
func DecodeNodeSnapshot(r io.Reader) (*NodeSnapshot, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read node snapshot: %w", err)
	}
	return ParseNodeSnapshot(data)
}

// ParseNodeSnapshot parses a node snapshot. The version is checked before anything else,
// so a snapshot of another format version is refused with both versions named rather than
// with a confusing field error; a malformed file is refused with the line and column.
func ParseNodeSnapshot(data []byte) (*NodeSnapshot, error) {
	var head struct {
		Version *string `json:"version"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, jsonError(data, err)
	}
	switch {
	case head.Version == nil:
		return nil, fmt.Errorf("not a netstack snapshot: no version (want %q)", Version)
	case *head.Version != Version:
		return nil, fmt.Errorf("snapshot version %q, this netdiag reads %q", *head.Version, Version)
	}
	snap := &NodeSnapshot{}
	if err := json.Unmarshal(data, snap); err != nil {
		return nil, jsonError(data, err)
	}
	if err := snap.Validate(); err != nil {
		return nil, err
	}
	snap.Index()
	return snap, nil
}

// WriteNodeSnapshot writes snap as indented JSON, stamping the format version when unset.
func WriteNodeSnapshot(w io.Writer, snap *NodeSnapshot) error {
	if snap == nil {
		return errors.New("write node snapshot: nil snapshot")
	}
	out := *snap
	if out.Version == "" {
		out.Version = Version
	}
	if out.Version != Version {
		return fmt.Errorf("write node snapshot: version %q, this netdiag writes %q", out.Version, Version)
	}
	if err := out.Validate(); err != nil {
		return fmt.Errorf("write node snapshot: %w", err)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(&out); err != nil {
		return fmt.Errorf("write node snapshot of node %s: %w", out.Node, err)
	}
	return nil
}

// Validate checks what the engine relies on: a node name, named and unique interfaces,
// routes with a destination and a known type, rules with a known action.
func (s *NodeSnapshot) Validate() error {
	if s.Node == "" {
		return errors.New("snapshot names no node")
	}
	for _, ns := range s.Namespaces() {
		where := "host"
		if ns.Pod != nil {
			where = "pod " + ns.Pod.Namespace + "/" + ns.Pod.Name
		}
		if err := ns.validate(); err != nil {
			return fmt.Errorf("node %s, %s: %w", s.Node, where, err)
		}
	}
	return nil
}

var knownRouteTypes = map[string]bool{
	"": true, RouteUnicast: true, RouteLocal: true, RouteBroadcast: true, RouteBlackhole: true,
	RouteUnreachable: true, RouteProhibit: true, RouteThrow: true, "multicast": true, "anycast": true, "nat": true,
}

var knownRuleActions = map[string]bool{
	"": true, RuleToTable: true, RuleGoto: true, RuleNop: true, RuleBlackhole: true, RuleUnreachable: true, RuleProhibit: true,
}

func (n *Netstack) validate() error {
	names := map[string]bool{}
	for i, ifc := range n.Interfaces {
		if ifc.Name == "" {
			return fmt.Errorf("interface #%d (index %d) has no name", i, ifc.Index)
		}
		if names[ifc.Name] {
			return fmt.Errorf("interface %s listed twice", ifc.Name)
		}
		names[ifc.Name] = true
	}
	for i, r := range n.Routes {
		if !r.Dst.IsValid() {
			return fmt.Errorf("route #%d (table %s) has no destination", i, TableName(r.Table))
		}
		if !knownRouteTypes[r.Type] {
			return fmt.Errorf("route %s (table %s) has unknown type %q", r.Dst, TableName(r.Table), r.Type)
		}
	}
	for _, r := range n.Rules {
		if !knownRuleActions[r.Action] {
			return fmt.Errorf("rule %d has unknown action %q", r.Priority, r.Action)
		}
	}
	return nil
}

// jsonError adds the line and column to a JSON error.
func jsonError(data []byte, err error) error {
	var off int64 = -1
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		off = max(syn.Offset-1, 0) // the offset is just past the offending byte
	case errors.As(err, &typ):
		off = typ.Offset
	}
	if off < 0 || off > int64(len(data)) {
		return fmt.Errorf("malformed snapshot: %w", err)
	}
	line := 1 + bytes.Count(data[:off], []byte("\n"))
	col := off - int64(bytes.LastIndexByte(data[:off], '\n'))
	return fmt.Errorf("malformed snapshot at line %d, column %d: %w", line, col, err)
}
