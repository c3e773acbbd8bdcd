{
  description = "Parrhesia: a Nostr relay in TypeScript on Effect";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin" ];
      forAll = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});

      # package-lock.json is written without "resolved" URLs (npm's
      # omit-lockfile-registry-resolved), and Nix's npm fetchers only fetch
      # packages that have one. Put the registry tarball URL back for every
      # package with an integrity hash; importNpmLock then fetches each tarball
      # with the lockfile's own hash, so there is no npmDepsHash to keep in step
      # with the lockfile. Optional packages for other platforms (the embedded
      # PostgreSQL of other systems, native bindings) keep no URL: npm skips them
      # without fetching, as it does on any machine.
      npmPlatforms = {
        x86_64-linux = { os = "linux"; cpu = "x64"; };
        aarch64-linux = { os = "linux"; cpu = "arm64"; };
        x86_64-darwin = { os = "darwin"; cpu = "x64"; };
        aarch64-darwin = { os = "darwin"; cpu = "arm64"; };
      };
      npmLockFor = system:
        let
          lock = builtins.fromJSON (builtins.readFile ./package-lock.json);
          platform = npmPlatforms.${system};
          # npm's os/cpu/libc lists: names, or "!name" to exclude one.
          allows = list: value:
            let positive = builtins.filter (x: builtins.substring 0 1 x != "!") list;
            in !(builtins.elem "!${value}" list) && (positive == [ ] || builtins.elem value positive);
          fits = module:
            allows (module.os or [ ]) platform.os
            && allows (module.cpu or [ ]) platform.cpu
            && (platform.os != "linux" || allows (module.libc or [ ]) "glibc");
          # "node_modules/a/node_modules/@scope/b" -> "@scope/b"
          nameOf = path: builtins.elemAt (builtins.match "(.*node_modules/)?((@[^/]+/)?[^/]+)" path) 1;
          withUrl = path: module:
            if path == "" || module ? resolved || !(module ? integrity) then module
            else if (module.optional or false) && !(fits module) then module
            else
              let
                name = module.name or (nameOf path);
                base = builtins.elemAt (builtins.match "(@[^/]+/)?([^/]+)" name) 1;
              in
              module // { resolved = "https://registry.npmjs.org/${name}/-/${base}-${module.version}.tgz"; };
        in
        lock // { packages = builtins.mapAttrs withUrl lock.packages; };
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

      # `nix build` -> result/bin/parrhesia; `nix run . -- serve --port 7777`.
      # Not built on the development machine (it has no Nix): see deploy/README.md.
      packages = forAll (pkgs:
        let
          inherit (pkgs) lib stdenv;
          nodejs = pkgs.nodejs_24;
        in {
          default = pkgs.buildNpmPackage {
            pname = "parrhesia";
            version = (builtins.fromJSON (builtins.readFile ./package.json)).version;
            src = self;
            inherit nodejs;

            npmDeps = pkgs.importNpmLock {
              npmRoot = ./.;
              packageLock = npmLockFor stdenv.hostPlatform.system;
            };
            npmConfigHook = pkgs.importNpmLock.npmConfigHook;
            # The runtime packages only; install scripts run afterwards (npm
            # rebuild): bcrypto builds libsecp256k1, @embedded-postgres/* restores
            # its library symlinks (both approved in package.json allowScripts).
            npmInstallFlags = [ "--omit=dev" ];
            # Node runs the TypeScript sources directly: nothing to build.
            dontNpmBuild = true;

            nativeBuildInputs = [ pkgs.makeWrapper ]
              # The embedded PostgreSQL binaries come from npm, built for FHS
              # systems: give them this system's loader and libstdc++. The
              # PL/Perl and PL/Python modules they ship are never loaded.
              ++ lib.optionals stdenv.hostPlatform.isLinux [ pkgs.autoPatchelfHook ];
            buildInputs = lib.optionals stdenv.hostPlatform.isLinux [ stdenv.cc.cc.lib ];
            autoPatchelfIgnoreMissingDeps = [ "libperl.so.*" "libpython3*" ];

            # bin/parrhesia is a shell script that looks for a Node >= 22.19 and
            # may install one; here Node is known, so the command runs the entry
            # point with it (the same `node src/main.ts` as `npm start`).
            postInstall = ''
              rm -f $out/bin/parrhesia
              makeWrapper ${nodejs}/bin/node $out/bin/parrhesia \
                --add-flags $out/lib/node_modules/parrhesia/src/main.ts
            '';

            meta = {
              description = "A Nostr relay in TypeScript on Effect";
              license = lib.licenses.mit;
              mainProgram = "parrhesia";
            };
          };
        });

      apps = forAll (pkgs: {
        default = {
          type = "app";
          program = "${self.packages.${pkgs.stdenv.hostPlatform.system}.default}/bin/parrhesia";
        };
      });
    };
}
