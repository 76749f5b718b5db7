// Package ipset parses the sets that `ipset save` prints and answers whether a packet's
// values are members, as the iptables set match asks: hash:ip, hash:net (with nomatch),
// hash:ip,port and the other hash and bitmap types kube-proxy, calico and flannel create,
// and list:set.
package ipset
