// The authenticated caller, as Kubernetes describes users (user.Info).
export interface UserInfo {
  username: string;
  uid?: string;
  groups: string[];
  extra: Record<string, string[]>;
}
