"""`gitops sync`: Argo CD itself syncs every Argo CD cluster's folder into throwaway API servers (docs/argocd-sync.md)."""
