{
  description = "Parrhesia: a Nostr relay in TypeScript on Effect";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin" ];
      forAll = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in {
      devShells = forAll (pkgs: {
        default = pkgs.mkShell {
          packages = [ pkgs.nodejs_24 pkgs.postgresql_18 ];
          shellHook = ''
            echo "parrhesia dev shell: node $(node --version), $(postgres --version)"
            echo "  npm start   # relay on the embedded PostgreSQL (or set DATABASE_URL)"
            echo "  npm test    # the whole test suite"
          '';
        };
      });
    };
}
