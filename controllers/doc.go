/*
Copyright 2026 The netdiag Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

// Package controllers holds the NetworkDiagnosis reconciler: it resolves the endpoints a
// diagnosis names, runs one collector pod per node the path may cross, waits for their
// snapshots (ConfigMaps written through the API server), hands everything to the engine in
// internal/diagnose and writes the answer into the status. The engine never sees a client;
// this package never simulates a packet.
package controllers
