// Package network holds the Network a diagnosis runs on and the walk of transmissions
// that every Network shares: from the source's NetNode, each transmission is handed to the
// NetNode it reaches, until every branch is delivered, dropped or undecided, bounded by a
// hop limit and a visited set.
package network
