package service

import (
	"github.com/netdiag/netdiag/internal/cluster"
)

type ipvsProcessor struct{}

func (ipvsProcessor) Process(snap *cluster.Snapshot, a Arrival) (*Result, error) {
	return nil, nil
}
