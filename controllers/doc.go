// Package controllers holds the NetworkDiagnosis reconciler: it resolves the endpoints a
// diagnosis names, runs one collector pod per node the path may cross, waits for their
// snapshots (ConfigMaps written through the API server), hands everything to the engine in
// internal/diagnose and writes the answer into the status. The engine never sees a client;
// this package never simulates a packet.
package controllers
