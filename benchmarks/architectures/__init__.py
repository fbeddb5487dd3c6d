"""Architecture benchmarks (issue 13): trained VGG, ResNet and LLaMA-style models, built
offline by one command each (:mod:`benchmarks.architectures.build`) and cached as safetensors
(:mod:`neuroplast.zoo.cache`)."""
