"""The default ACT skill library, written in our own words.

Two skills for each inflexible pole (what helps when that process is stuck) and two
consolidation skills for each flexible pole (what strengthens it when it is going well);
each takes one to three minutes. Three more speak the words of the participant's own plan
(a value, a goal and a reason for change, a support person), with a fallback for a plan
that has none. English, with Spanish translations.
"""

from app.rules.process import Pole
from app.skills.content import Skill, SkillText

# Spanish text of the default skills: (title, steps), in the same order as the English.
SPANISH: dict[str, tuple[str, list[str]]] = {
    "make_room": ("Hazle sitio a la emoción", [
        "Nota en qué parte del cuerpo está la emoción.",
        "Respira despacio hacia ese lugar, como si le dieras un poco más de espacio.",
        "Déjala estar ahí durante tres respiraciones sin intentar cambiarla.",
        "Pregúntate: ¿puedo llevar esta emoción conmigo mientras sigo adelante?"]),
    "willing_hand": ("Una mano abierta", [
        "Cierra el puño con fuerza y nota cómo apretar mantiene la emoción a raya.",
        "Abre la mano despacio, con la palma hacia arriba, sobre la rodilla.",
        "Dite: estoy dispuesto/a a sentir esto, solo por ahora.",
        "Quédate con la mano abierta unas cuantas respiraciones."]),
    "name_and_welcome": ("Nómbrala y dale la bienvenida", [
        "Nombra con una palabra la emoción que sientes ahora.",
        "Di: aquí está esta emoción, y hay sitio para ella.",
        "Nota que ya lo estás haciendo bien."]),
    "kind_breath": ("Una respiración amable", [
        "Pon una mano donde sientes la respiración.",
        "Con cada inhalación, di 'esto está permitido'.",
        "Con cada exhalación, suelta los hombros.",
        "Agradécete seguir abierto/a."]),
    "having_the_thought": ("Estoy teniendo el pensamiento de que...", [
        "Elige el pensamiento que más te atrapa y dítelo.",
        "Ahora di: estoy teniendo el pensamiento de que... y repítelo.",
        "Después: me doy cuenta de que estoy teniendo el pensamiento de que...",
        "Nota cualquier pequeña distancia entre tú y el pensamiento."]),
    "leaves_on_stream": ("Pensamientos en un arroyo", [
        "Imagina un arroyo tranquilo con hojas que flotan.",
        "Pon cada pensamiento que aparezca sobre una hoja.",
        "Mira cómo se aleja a su ritmo; no la empujes.",
        "Si te enganchas, vuelve con suavidad al arroyo."]),
    "thank_your_mind": ("Dale las gracias a tu mente", [
        "Nota lo que tu mente te está diciendo ahora.",
        "Di: gracias, mente, por esa.",
        "Elige lo que quieres hacer a continuación, diga lo que diga la mente."]),
    "silly_voice": ("Otra voz", [
        "Toma un pensamiento conocido y escúchalo con voz de dibujo animado.",
        "Nota que las palabras siguen igual mientras su fuerza cambia.",
        "Conserva esta ligereza durante la próxima hora."]),
    "five_senses": ("Cinco cosas", [
        "Nombra cinco cosas que puedes ver.",
        "Nombra cuatro cosas que puedes oír.",
        "Nombra tres cosas que sientes sobre la piel.",
        "Haz una respiración lenta y nota dónde estás."]),
    "feet_on_floor": ("Los pies en el suelo", [
        "Presiona los pies contra el suelo y siente el contacto.",
        "Nota el peso de tu cuerpo en la silla o en el suelo.",
        "Deja que la respiración entre y salga tres veces.",
        "Mira a tu alrededor y nombra dónde estás y qué haces."]),
    "one_mindful_minute": ("Un minuto de atención", [
        "Durante un minuto, sigue tu respiración al entrar y al salir.",
        "Cuando la mente se vaya, nota adónde fue y vuelve.",
        "Termina notando un sonido a tu alrededor."]),
    "savour_now": ("Saborea este momento", [
        "Elige algo agradable aquí mismo: la luz, un sabor, una textura.",
        "Dale toda tu atención durante unas respiraciones.",
        "Nota que tú elegiste adónde iba tu atención."]),
    "observer_self": ("La parte de ti que observa", [
        "Nota una historia que tu mente cuenta sobre quién eres.",
        "Ahora nota que eres tú quien observa esa historia.",
        "Imagina la historia como un tiempo que cruza un cielo amplio.",
        "Tú eres el cielo: el tiempo cambia, tú permaneces."]),
    "younger_self": ("Unas palabras para tu yo más joven", [
        "Imagínate a una edad más joven, luchando con la misma historia.",
        "¿Qué querrías que supiera ese yo más joven?",
        "Escribe o di una frase amable para él o ella.",
        "Nota que puedes ver la historia desde fuera."]),
    "same_you": ("El mismo tú de siempre", [
        "Recuerda un momento de hace un año y nota quién estaba allí.",
        "Nota que el mismo tú está aquí ahora, observando.",
        "Descansa un momento en ese lugar estable."]),
    "friends_eyes": ("Con los ojos de un amigo", [
        "Imagina cómo te ve hoy un buen amigo o amiga.",
        "Nota lo que ve y tu propia historia deja fuera.",
        "Llévate contigo esa mirada más amplia."]),
    "what_matters": ("¿Qué importa aquí?", [
        "Pregúntate: en esta situación, ¿qué quiero defender?",
        "Escribe una palabra para la persona que quieres ser aquí.",
        "Nota qué te pide esa palabra en la próxima hora."]),
    "sweet_spot": ("Un momento dulce", [
        "Recuerda un momento en que te sentiste plenamente vivo/a y tú mismo/a.",
        "Nota qué hacías y quién estaba allí.",
        "Pregúntate qué dice ese momento sobre lo que te importa.",
        "Elige una pequeña manera de traerlo al día de hoy."]),
    "values_compass": ("Mira tu brújula", [
        "Nombra el valor que te guía ahora mismo.",
        "Nota cómo se siente avanzar en su dirección.",
        "Deja que marque el siguiente paso pequeño."]),
    "gratitude_values": ("Agradece el valor", [
        "Escribe algo que hiciste hoy que encaja con lo que te importa.",
        "Anota lo que te dio a ti o a otra persona.",
        "Planea hacer otra cosa así mañana."]),
    "tiny_step": ("Un paso diminuto", [
        "Elige algo importante para ti que has ido aplazando.",
        "Redúcelo a un paso que podrías hacer en dos minutos.",
        "Decide cuándo lo harás, y hazlo ahora si puedes.",
        "Nota que la incomodidad puede acompañarte en el camino."]),
    "move_your_body": ("Ponte en marcha", [
        "Levántate y estira los brazos hacia arriba.",
        "Camina unos pasos, hasta la ventana o la puerta.",
        "Pregúntate: ¿con qué puedo empezar ahora mismo?"]),
    "plan_tomorrow": ("Planea el siguiente paso", [
        "Anota el paso que diste hoy hacia lo que importa.",
        "Escribe el siguiente paso y cuándo lo darás.",
        "Nombra un obstáculo y cómo lo afrontarás."]),
    "celebrate_action": ("Reconoce el paso", [
        "Nombra algo que hiciste hoy y que te alegra haber hecho.",
        "Nota lo que te costó y lo que te dio.",
        "Deja que sea combustible para el siguiente paso."]),
    "own_compass": ("Tu propia brújula", [
        "Trae a la mente lo que dijiste que te importa: {value}.",
        "Imagina la próxima hora vivida un poco más cerca de ello.",
        "Elige una pequeña cosa que encaje con ello, y cuándo la harás."]),
    "step_toward_goal": ("Un paso hacia tu meta", [
        "Piensa en tu meta: {goal}.",
        "Nombra el siguiente paso hacia ella que podrías dar hoy, por pequeño que sea.",
        "Cuando se ponga difícil, recuerda por qué: {reason}."]),
    "reach_out": ("Busca a alguien", [
        "No tienes que llevar esto a solas.",
        "Piensa en alguien a quien puedes acudir: {support}.",
        "Envía un mensaje corto o llama, aunque sea solo para saludar."]),
}  # fmt: skip
# The fallbacks of the skills that read the plan, per language.
FALLBACKS: dict[str, dict[str, dict[str, str]]] = {
    "own_compass": {
        "en": {"value": "the kind of person you want to be"},
        "es": {"value": "la clase de persona que quieres ser"},
    },
    "step_toward_goal": {
        "en": {"goal": "something you want to move toward", "reason": "it matters to you"},
        "es": {"goal": "algo hacia lo que quieres avanzar", "reason": "te importa"},
    },
    "reach_out": {
        "en": {"support": "someone you trust"},
        "es": {"support": "alguien de confianza"},
    },
}


def _skill(
    key: str, title: str, pole: Pole, seconds: int, modalities: list[str], steps: list[str]
) -> Skill:
    spanish_title, spanish_steps = SPANISH[key]
    fallbacks = FALLBACKS.get(key, {})
    return Skill(
        key=key,
        title=title,
        steps=steps,
        duration_seconds=seconds,
        targets=[pole],
        modalities=modalities,
        fallbacks=fallbacks.get("en", {}),
        translations={
            "es": SkillText(
                title=spanish_title, steps=spanish_steps, fallbacks=fallbacks.get("es", {})
            )
        },
    )


def default_library() -> list[Skill]:
    P = Pole
    return [
        # Emotion: acceptance and willingness.
        _skill("make_room", "Make room for the feeling", P.experiential_avoidance, 120,
               ["breathing", "body"], [
                   "Notice where the feeling sits in your body.",
                   "Breathe slowly into that place, as if giving it a little more space.",
                   "Let it be there for three breaths without trying to change it.",
                   "Ask yourself: can I carry this feeling with me while I go on?"]),
        _skill("willing_hand", "An open hand", P.experiential_avoidance, 90,
               ["movement", "body"], [
                   "Make a tight fist and feel how clenching holds the feeling off.",
                   "Slowly open your hand, palm up, on your knee.",
                   "Say to yourself: I am willing to have this, just for now.",
                   "Stay with the open hand for a few breaths."]),
        _skill("name_and_welcome", "Name it and welcome it", P.acceptance, 60,
               ["reflection"], [
                   "Name the feeling you are having right now in one word.",
                   "Say: here is this feeling, and there is room for it.",
                   "Notice that you are already doing this well."]),
        _skill("kind_breath", "A kind breath", P.acceptance, 90,
               ["breathing"], [
                   "Place a hand where you feel your breath.",
                   "With each breath in, say 'this is allowed'.",
                   "With each breath out, soften your shoulders.",
                   "Thank yourself for staying open."]),
        # Cognition: defusion.
        _skill("having_the_thought", "I am having the thought that...", P.cognitive_fusion, 90,
               ["reflection", "writing"], [
                   "Pick the thought that pulls on you most and say it to yourself.",
                   "Now say: I am having the thought that... and repeat it.",
                   "Then: I notice I am having the thought that...",
                   "Notice any small distance that appears between you and the thought."]),
        _skill("leaves_on_stream", "Thoughts on a stream", P.cognitive_fusion, 150,
               ["imagery"], [
                   "Imagine a slow stream with leaves floating past.",
                   "Place each thought that shows up on a leaf.",
                   "Watch it float away at its own pace; do not push it.",
                   "If you get caught up, gently return to the stream."]),
        _skill("thank_your_mind", "Thank your mind", P.defusion, 60,
               ["reflection"], [
                   "Notice what your mind is telling you right now.",
                   "Say: thanks, mind, for that one.",
                   "Choose what you want to do next, whatever the mind says."]),
        _skill("silly_voice", "A different voice", P.defusion, 60,
               ["imagery"], [
                   "Take a familiar thought and hear it in a cartoon voice.",
                   "Notice the words stay the same while their grip changes.",
                   "Keep this lightness for the next hour."]),
        # Attention: present-moment grounding.
        _skill("five_senses", "Five things", P.inflexible_attention, 120,
               ["senses", "grounding"], [
                   "Name five things you can see.",
                   "Name four things you can hear.",
                   "Name three things you can feel against your skin.",
                   "Take one slow breath and notice where you are."]),
        _skill("feet_on_floor", "Feet on the floor", P.inflexible_attention, 90,
               ["body", "grounding"], [
                   "Press your feet into the floor and feel the contact.",
                   "Notice the weight of your body on the chair or the ground.",
                   "Let your breath come and go three times.",
                   "Look around and name where you are and what you are doing."]),
        _skill("one_mindful_minute", "One mindful minute", P.present_moment, 60,
               ["breathing"], [
                   "For one minute, follow your breath in and out.",
                   "When your mind wanders, notice where it went and come back.",
                   "Finish by noticing one sound around you."]),
        _skill("savour_now", "Savour this moment", P.present_moment, 90,
               ["senses"], [
                   "Pick something pleasant right here: light, a taste, a texture.",
                   "Give it your full attention for a few breaths.",
                   "Notice that you chose where your attention went."]),
        # Self: self-as-context and perspective taking.
        _skill("observer_self", "The part of you that notices", P.self_as_content, 120,
               ["reflection", "imagery"], [
                   "Notice a story your mind tells about who you are.",
                   "Now notice that you are the one noticing the story.",
                   "Picture the story as weather passing across a wide sky.",
                   "You are the sky: the weather changes, you remain."]),
        _skill("younger_self", "A word to a younger you", P.self_as_content, 150,
               ["imagery", "writing"], [
                   "Picture yourself at a younger age, struggling with the same story.",
                   "What would you want that younger you to know?",
                   "Write or say one kind sentence to them.",
                   "Notice that you can see the story from outside it."]),
        _skill("same_you", "The same you throughout", P.self_as_context, 90,
               ["reflection"], [
                   "Recall a moment from a year ago and notice who was there.",
                   "Notice the same you is here now, noticing.",
                   "Rest a moment in that steady place."]),
        _skill("friends_eyes", "Through a friend's eyes", P.self_as_context, 90,
               ["imagery"], [
                   "Imagine how a good friend sees you today.",
                   "Notice what they see that your own story leaves out.",
                   "Keep that wider view with you."]),
        # Motivation: values.
        _skill("what_matters", "What matters here?", P.values_remoteness, 120,
               ["reflection", "writing"], [
                   "Ask: in this situation, what do I want to stand for?",
                   "Write down one word for the kind of person you want to be here.",
                   "Notice what that word asks of you in the next hour."]),
        _skill("sweet_spot", "A sweet moment", P.values_remoteness, 150,
               ["imagery"], [
                   "Recall a moment when you felt fully alive and yourself.",
                   "Notice what you were doing and who was there.",
                   "Ask what that moment says about what you care about.",
                   "Pick one small way to bring that into today."]),
        _skill("values_compass", "Check your compass", P.chosen_values, 60,
               ["reflection"], [
                   "Name the value that is guiding you right now.",
                   "Notice how it feels to move in its direction.",
                   "Let it set the next small step."]),
        _skill("gratitude_values", "Thank the value", P.chosen_values, 90,
               ["writing"], [
                   "Write one thing you did today that fits what you care about.",
                   "Note what it gave you or someone else.",
                   "Plan to do one more such thing tomorrow."]),
        # Behavior: committed action.
        _skill("tiny_step", "One tiny step", P.inaction, 120,
               ["planning"], [
                   "Pick something you have been putting off that matters to you.",
                   "Shrink it to a step you could do in two minutes.",
                   "Decide when you will do it, and do it if you can right now.",
                   "Notice that discomfort can come along for the ride."]),
        _skill("move_your_body", "Get moving", P.inaction, 90,
               ["movement"], [
                   "Stand up and stretch your arms overhead.",
                   "Walk a few steps, to the window or the door.",
                   "Ask: what is one thing I can start on right now?"]),
        _skill("plan_tomorrow", "Plan the next step", P.committed_action, 120,
               ["planning", "writing"], [
                   "Note the step you took today toward what matters.",
                   "Write the next step and when you will take it.",
                   "Name one obstacle and how you will meet it."]),
        _skill("celebrate_action", "Mark the step", P.committed_action, 60,
               ["reflection"], [
                   "Name one thing you did today that you are glad you did.",
                   "Notice what it cost and what it gave.",
                   "Let that be fuel for the next step."]),
        # The participant's own plan: a value, a goal and its reason, a support person.
        _skill("own_compass", "Your own compass", P.values_remoteness, 120,
               ["reflection"], [
                   "Bring to mind what you said matters to you: {value}.",
                   "Picture the next hour lived a little closer to it.",
                   "Pick one small thing that fits it, and when you will do it."]),
        _skill("step_toward_goal", "A step toward your goal", P.committed_action, 120,
               ["planning"], [
                   "Think of your goal: {goal}.",
                   "Name the next step toward it you could take today, however small.",
                   "When it gets hard, remember why: {reason}."]),
        _skill("reach_out", "Reach out", P.experiential_avoidance, 120,
               ["social"], [
                   "You do not have to carry this alone.",
                   "Think of someone you can reach out to: {support}.",
                   "Send a short message or make a call, even just to say hello."]),
    ]  # fmt: skip
